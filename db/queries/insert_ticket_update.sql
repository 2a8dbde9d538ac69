-- A ticket's new state, reported by a ticket webhook, as an event of the initiative (outside its workflow: seq -1).
INSERT INTO lifecycle_events (event_id, initiative_id, seq, kind, stage, actor, reason_code, reason_family,
                              detail, data, occurred_at, policy_version, verified)
SELECT $1, i.id, -1, 'ticket_updated', i.stage, $2, $3, $4, $5, $6, $7, i.policy_version, true
FROM initiatives i WHERE i.id = $8
