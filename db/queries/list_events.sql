SELECT event_id, initiative_id, seq, kind, stage, actor, role, reason_code, reason_family, detail, data,
       occurred_at, policy_version, verified
FROM lifecycle_events
WHERE initiative_id = $1
ORDER BY occurred_at, seq, event_id
