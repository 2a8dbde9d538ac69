-- The stage visits a policy backtest replays, for initiatives in scope ($1 since, $2 until, $3 team,
-- $4 business_unit; NULL = no filter): when each visit began and ended (NULL: still open) and how, the roles
-- that approved during it, and how long it was on hold (the resumed events' held_seconds).
SELECT i.id, i.title, i.risk_tier, si.stage, si.entered_at, si.left_at, si.outcome,
       coalesce(a.roles, '{}') AS approved_roles,
       coalesce(h.held_seconds, 0)::float8 AS held_seconds
FROM initiatives i
JOIN stage_intervals si ON si.initiative_id = i.id
LEFT JOIN LATERAL (
    SELECT array_agg(DISTINCT e.role) FILTER (WHERE e.role IS NOT NULL) AS roles
    FROM lifecycle_events e
    WHERE e.initiative_id = i.id AND e.kind = 'approved' AND e.stage = si.stage
      AND e.occurred_at >= si.entered_at AND (si.left_at IS NULL OR e.occurred_at <= si.left_at)
) a ON true
LEFT JOIN LATERAL (
    SELECT sum((e.data ->> 'held_seconds')::float8) AS held_seconds
    FROM lifecycle_events e
    WHERE e.initiative_id = i.id AND e.kind = 'resumed' AND e.stage = si.stage
      AND e.occurred_at >= si.entered_at AND (si.left_at IS NULL OR e.occurred_at <= si.left_at)
) h ON true
WHERE ($1::timestamptz IS NULL OR i.submitted_at >= $1)
  AND ($2::timestamptz IS NULL OR i.submitted_at < $2)
  AND ($3::text IS NULL OR i.team = $3)
  AND ($4::text IS NULL OR i.business_unit = $4)
  AND si.stage NOT IN ('production', 'scrapped')
ORDER BY i.id, si.entered_at
