-- Snapshot of an initiative; an older event (lower seq) never overwrites a newer snapshot.
INSERT INTO initiatives (
    id, workflow_id, title, team, business_unit, sponsor, submitter, risk_tier, data_classification,
    procurement, deployment_target, budget_usd, policy_version, stage, status, stage_entered_at,
    awaiting_roles, reason_code, poc_spend_usd, submitted_at, updated_at, last_event_seq, spec,
    due_at, approved_by, approvers_can_act, team_action
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23,
          $24, $25, $26, $27)
ON CONFLICT (id) DO UPDATE SET
    stage = EXCLUDED.stage,
    status = EXCLUDED.status,
    stage_entered_at = EXCLUDED.stage_entered_at,
    awaiting_roles = EXCLUDED.awaiting_roles,
    reason_code = EXCLUDED.reason_code,
    poc_spend_usd = EXCLUDED.poc_spend_usd,
    updated_at = EXCLUDED.updated_at,
    last_event_seq = EXCLUDED.last_event_seq,
    due_at = EXCLUDED.due_at,
    approved_by = EXCLUDED.approved_by,
    approvers_can_act = EXCLUDED.approvers_can_act,
    team_action = EXCLUDED.team_action
WHERE initiatives.last_event_seq < EXCLUDED.last_event_seq
