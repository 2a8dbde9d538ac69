-- The worker noticed that an initiative's workflow was ended or rewound outside liftoff ($3: how).
-- The event id names the workflow run, so noticing it again records nothing new.
INSERT INTO lifecycle_events (
    event_id, initiative_id, seq, kind, stage, actor, role, reason_code, reason_family, detail, data,
    occurred_at, policy_version, verified
)
SELECT $1, i.id, -1, 'tampered', i.stage, $4, NULL, NULL, NULL, $5, jsonb_build_object('how', $3::text), $6,
       i.policy_version, false
FROM initiatives i WHERE i.id = $2
ON CONFLICT (event_id) DO NOTHING
