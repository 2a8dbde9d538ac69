SELECT id, workflow_id, title, team, business_unit, sponsor, submitter, risk_tier, data_classification,
       procurement, deployment_target, budget_usd, policy_version, stage, status, stage_entered_at,
       awaiting_roles, reason_code, poc_spend_usd, submitted_at, updated_at
FROM initiatives
WHERE id = $1
