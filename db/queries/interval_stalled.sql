-- A stall began in the open visit of a stage.
UPDATE stage_intervals
SET stalls = stalls + 1, last_stall_reason = $3
WHERE initiative_id = $1 AND stage = $2 AND left_at IS NULL
