-- Provisioning twice with the same idempotency key returns the first resource. No conflict target: the ref is
-- derived from the key, so two concurrent first attempts may meet on either unique index.
WITH inserted AS (
    INSERT INTO provisioned_resources (ref, idempotency_key, initiative_id, provider, environment, status,
                                       spec, cost_usd, expires_at)
    VALUES ($1, $2, $3, 'builtin', $4, 'ready', $5, $6, $7)
    ON CONFLICT DO NOTHING
    RETURNING ref, provider, environment, status, cost_usd
)
SELECT ref, provider, environment, status, cost_usd FROM inserted
UNION ALL
SELECT ref, provider, environment, status, cost_usd FROM provisioned_resources WHERE idempotency_key = $2
LIMIT 1
