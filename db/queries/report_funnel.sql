-- Funnel: per lifecycle stage, how many initiatives in scope reached it, left it forward, or were scrapped in it.
-- A send-back and re-entry is another visit of the same stage, so every count is of distinct initiatives:
-- "reached" counts first visits (visit numbers start at 1, unique per initiative and stage), "advanced" counts
-- an advanced visit only when no earlier visit of the stage advanced (looked up for re-entries only), and an
-- initiative is scrapped once, closing the visit it was in.
-- Scope: $1 since, $2 until (submitted_at in [since, until)), $3 team, $4 business_unit; NULL = no filter.
WITH per_stage AS (
    SELECT si.stage,
           count(*) FILTER (WHERE si.visit = 1) AS reached,
           count(*) FILTER (
               WHERE si.outcome = 'advanced'
                 AND (si.visit = 1 OR NOT EXISTS (
                     SELECT 1
                     FROM stage_intervals earlier
                     WHERE earlier.initiative_id = si.initiative_id
                       AND earlier.stage = si.stage
                       AND earlier.visit < si.visit
                       AND earlier.outcome = 'advanced'
                 ))
           ) AS advanced,
           count(*) FILTER (WHERE si.outcome = 'scrapped') AS scrapped
    FROM stage_intervals si
    -- a LEFT JOIN the planner drops when no filter is set (every row has its initiative)
    LEFT JOIN initiatives i ON i.id = si.initiative_id
    WHERE ($1::timestamptz IS NULL OR i.submitted_at >= $1)
      AND ($2::timestamptz IS NULL OR i.submitted_at < $2)
      AND ($3::text IS NULL OR i.team = $3)
      AND ($4::text IS NULL OR i.business_unit = $4)
      AND si.stage <> 'scrapped'
    GROUP BY si.stage
),
total AS (
    SELECT count(*) AS n
    FROM initiatives i
    WHERE ($1::timestamptz IS NULL OR i.submitted_at >= $1)
      AND ($2::timestamptz IS NULL OR i.submitted_at < $2)
      AND ($3::text IS NULL OR i.team = $3)
      AND ($4::text IS NULL OR i.business_unit = $4)
)
SELECT total.n::int AS total,
       p.stage,
       p.reached::int AS reached,
       p.advanced::int AS advanced,
       p.scrapped::int AS scrapped
FROM total
LEFT JOIN per_stage p ON true
