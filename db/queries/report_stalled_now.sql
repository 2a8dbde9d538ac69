-- Initiatives stalled right now, oldest stall first, with the latest stall's reason, since when, and how
-- many times it has been escalated since it began.
-- The workflow reports status 'stalled' while a stall is open, except on hold (status 'on_hold'), so an
-- initiative on hold counts when its latest stall has no later stall_cleared, scrapped or stage_left event.
-- Active and terminal initiatives have no open stall by construction (progress clears a stall first).
-- Scope: $1 since, $2 until (submitted_at in [since, until)), $3 team, $4 business_unit; NULL = no filter.
SELECT i.id,
       i.title,
       i.team,
       i.business_unit,
       i.stage,
       i.status,
       coalesce(s.reason_code, i.reason_code) AS reason_code,
       s.reason_family AS family,
       coalesce(s.occurred_at, i.stage_entered_at) AS since,
       extract(epoch FROM now() - coalesce(s.occurred_at, i.stage_entered_at))::float8 AS stalled_seconds,
       coalesce(esc.level, 0)::int AS escalation_level,
       i.awaiting_roles
FROM initiatives i
LEFT JOIN LATERAL (
    SELECT e.seq, e.reason_code, e.reason_family, e.occurred_at
    FROM lifecycle_events e
    WHERE e.initiative_id = i.id AND e.kind = 'stalled'
    ORDER BY e.seq DESC
    LIMIT 1
) s ON true
LEFT JOIN LATERAL (
    SELECT count(*) AS level
    FROM lifecycle_events e
    WHERE e.initiative_id = i.id AND e.kind = 'escalated' AND e.seq > s.seq
) esc ON true
WHERE i.status IN ('stalled', 'on_hold')
  AND ($1::timestamptz IS NULL OR i.submitted_at >= $1)
  AND ($2::timestamptz IS NULL OR i.submitted_at < $2)
  AND ($3::text IS NULL OR i.team = $3)
  AND ($4::text IS NULL OR i.business_unit = $4)
  AND (
      i.status = 'stalled'
      OR (
          s.seq IS NOT NULL
          AND NOT EXISTS (
              SELECT 1
              FROM lifecycle_events c
              WHERE c.initiative_id = i.id
                AND c.kind IN ('stall_cleared', 'scrapped', 'stage_left')
                AND c.seq > s.seq
          )
      )
  )
ORDER BY since, i.id
