-- A notice recorded with the events of its batch; a retried batch finds it there.
INSERT INTO notices (id, initiative_id, kind, stage, visit, roles, people, action, due_at, detail, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (id) DO NOTHING
