-- Remember an applied delivery; forget old ones (deliveries older than minutes are refused as stale anyway).
WITH forget AS (
    DELETE FROM webhook_deliveries WHERE received_at < now() - interval '1 day'
)
INSERT INTO webhook_deliveries (digest, system) VALUES ($1, $2)
ON CONFLICT (digest) DO NOTHING
