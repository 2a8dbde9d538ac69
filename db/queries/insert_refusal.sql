-- A decision the workflow refused, recorded by the API (refusals never reach workflow history).
INSERT INTO lifecycle_events (
    event_id, initiative_id, seq, kind, stage, actor, role, reason_code, reason_family, detail, data,
    occurred_at, policy_version, verified
)
SELECT $1, i.id, -1, 'decision_refused', i.stage, $3, $4, NULL, NULL, $5, $6, $7, i.policy_version, false
FROM initiatives i WHERE i.id = $2
ON CONFLICT (event_id) DO NOTHING
