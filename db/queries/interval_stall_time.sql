-- Add the duration of an ended stall to the visit it happened in (the open one, or the latest).
UPDATE stage_intervals
SET stalled_seconds = stalled_seconds + $3
WHERE id = (
    SELECT id FROM stage_intervals
    WHERE initiative_id = $1 AND stage = $2
    ORDER BY visit DESC
    LIMIT 1
)
