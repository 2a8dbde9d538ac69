-- A new visit of a stage; visit numbers count re-entries after a send-back.
INSERT INTO stage_intervals (id, initiative_id, stage, visit, entered_at, left_at, outcome)
SELECT $1, $2, $3, COALESCE(MAX(visit), 0) + 1, $4, $5, $6
FROM stage_intervals WHERE initiative_id = $2 AND stage = $3
ON CONFLICT (id) DO NOTHING
