-- Filters are optional: a NULL parameter matches everything.
SELECT id, workflow_id, title, team, business_unit, sponsor, submitter, risk_tier, data_classification,
       procurement, deployment_target, budget_usd, policy_version, stage, status, stage_entered_at,
       awaiting_roles, reason_code, poc_spend_usd, submitted_at, updated_at
FROM initiatives
WHERE ($1::text IS NULL OR stage = $1)
  AND ($2::text IS NULL OR status = $2)
  AND ($3::text IS NULL OR team = $3)
  AND ($4::boolean IS NULL OR (status = 'stalled') = $4)
  -- awaiting a role, and able to decide now (what the role's queue shows)
  AND ($7::text IS NULL OR (awaiting_roles && ARRAY[$7::text] AND approvers_can_act))
ORDER BY submitted_at DESC, id
LIMIT $5 OFFSET $6
