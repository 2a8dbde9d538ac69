-- What a delivery is about, and where its initiative stands now (to skip a gate that has moved on).
SELECT n.id AS notice_id, n.kind, n.stage, n.visit, n.roles, n.people, n.action, n.due_at, n.detail,
       i.id AS initiative_id, i.title, i.team, i.workflow_id, i.stage AS stage_now,
       i.stage_entered_at AS visit_now, i.status AS status_now, i.approved_by, i.team_action AS team_action_now,
       i.awaiting_roles AS awaiting_now
FROM notices n
JOIN initiatives i ON i.id = n.initiative_id
WHERE n.id = $1
