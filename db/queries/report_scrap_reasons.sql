-- Scrap Pareto: scrapped initiatives per reason (family, code) and the stage they were scrapped in.
-- ABANDONED says only that a stall lasted too long; the reason of the last stall before it (underlying_code)
-- says why, so abandoned initiatives are grouped by that too.
-- Scope: $1 since, $2 until (submitted_at in [since, until)), $3 team, $4 business_unit; NULL = no filter.
WITH scraps AS (
    SELECT e.initiative_id, e.seq, e.stage, e.reason_family, e.reason_code
    FROM lifecycle_events e
    -- a LEFT JOIN the planner drops when no filter is set (every row has its initiative)
    LEFT JOIN initiatives i ON i.id = e.initiative_id
    WHERE e.kind = 'scrapped'
      AND ($1::timestamptz IS NULL OR i.submitted_at >= $1)
      AND ($2::timestamptz IS NULL OR i.submitted_at < $2)
      AND ($3::text IS NULL OR i.team = $3)
      AND ($4::text IS NULL OR i.business_unit = $4)
)
SELECT s.reason_family AS family,
       s.reason_code AS code,
       s.stage,
       u.reason_code AS underlying_code,
       -- an initiative is scrapped once
       count(*)::int AS initiatives
FROM scraps s
LEFT JOIN LATERAL (
    SELECT st.reason_code
    FROM lifecycle_events st
    WHERE s.reason_code = 'ABANDONED'
      AND st.initiative_id = s.initiative_id
      AND st.kind = 'stalled'
      AND st.seq < s.seq
    ORDER BY st.seq DESC
    LIMIT 1
) u ON true
GROUP BY s.reason_family, s.reason_code, s.stage, u.reason_code
ORDER BY initiatives DESC, family, code, stage, underlying_code NULLS FIRST
