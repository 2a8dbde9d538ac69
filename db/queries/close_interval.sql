-- Close the open visit of a stage with how it ended.
UPDATE stage_intervals
SET left_at = $3, outcome = $4, reason_code = $5
WHERE initiative_id = $1 AND stage = $2 AND left_at IS NULL
