-- What one person can act on now, soonest due first: gates awaiting a role they hold that they have not
-- approved (and did not submit: separation of duties), and their teams' initiatives waiting on the team.
-- $1 email, $2 roles the person holds, $3 teams the person acts for (empty: none), $4 at most this many rows.
WITH open_gates AS (
    SELECT *
    FROM initiatives
    WHERE status IN ('active', 'stalled')
      AND stage IN ('proposed', 'poc', 'infra_review', 'it_signoff')
),
items AS (
    SELECT id, workflow_id, title, team, stage, status, due_at, submitter, approved_by, 'approve' AS action,
           ARRAY(SELECT r FROM unnest(awaiting_roles) AS r WHERE r = ANY($2::text[]) ORDER BY r) AS roles
    FROM open_gates
    WHERE approvers_can_act
      AND awaiting_roles && $2::text[]
      AND NOT ($1::text = ANY(approved_by))
      AND submitter <> $1::text
    UNION ALL
    SELECT id, workflow_id, title, team, stage, status, due_at, submitter, approved_by, team_action AS action,
           '{}'::text[] AS roles
    FROM open_gates
    WHERE team_action IS NOT NULL
      AND team = ANY($3::text[])
)
SELECT id, workflow_id, title, team, stage, status, due_at, submitter, approved_by, action, roles
FROM items
ORDER BY due_at NULLS LAST, id, action
LIMIT $4
