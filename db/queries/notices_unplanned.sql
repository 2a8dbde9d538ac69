-- Notices whose deliveries are not planned yet, oldest first, locked for this notifier ($1 at most).
-- Notices older than $2 seconds are marked planned without deliveries by notices_expire.sql first.
SELECT n.id, n.initiative_id, n.kind, n.stage, n.visit, n.roles, n.people, n.action, n.due_at, n.detail,
       n.created_at, i.title, i.team, i.workflow_id
FROM notices n
JOIN initiatives i ON i.id = n.initiative_id
WHERE n.planned_at IS NULL
ORDER BY n.created_at, n.id
LIMIT $1
FOR UPDATE OF n SKIP LOCKED
