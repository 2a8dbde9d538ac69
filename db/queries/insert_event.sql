-- Idempotent append: a retried activity finds its event already there and inserts nothing.
INSERT INTO lifecycle_events (
    event_id, initiative_id, seq, kind, stage, actor, role, reason_code, reason_family, detail, data,
    occurred_at, policy_version, verified
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
