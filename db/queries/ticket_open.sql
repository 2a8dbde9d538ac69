-- Opening twice with the same idempotency key returns the first ticket. The ref is derived from
-- the key, so concurrent opens collide on either unique index: no conflict target, both are handled.
WITH inserted AS (
    INSERT INTO tickets (ref, idempotency_key, initiative_id, system, kind, title, body, status)
    VALUES ($1, $2, $3, 'builtin', $4, $5, $6, 'open')
    ON CONFLICT DO NOTHING
    RETURNING ref, system, status, kind
)
SELECT ref, system, status, kind FROM inserted
UNION ALL
SELECT ref, system, status, kind FROM tickets WHERE idempotency_key = $2
LIMIT 1
