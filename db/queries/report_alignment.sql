-- Alignment: do initiatives bought inside the IT plan, or aimed at a given deployment target, reach
-- production more often? Initiatives are first counted per (procurement, deployment target, stage), then those
-- few dozen counts are summed by procurement and by deployment target in one pass (grouping sets).
-- Scope: $1 since, $2 until (submitted_at in [since, until)), $3 team, $4 business_unit; NULL = no filter.
-- The whole portfolio (no filter) is read from report_portfolio_facts, counted by the writers; a part of it is
-- counted now from report_initiative_facts (migration 0005). The branch that does not apply is planned away.
WITH combos AS (
    SELECT procurement, deployment_target, stage, initiatives::bigint AS n
    FROM report_portfolio_facts
    -- a combination every initiative has left stays behind with a count of zero
    WHERE initiatives <> 0
      AND $1::timestamptz IS NULL AND $2::timestamptz IS NULL AND $3::text IS NULL AND $4::text IS NULL
    UNION ALL
    SELECT procurement, deployment_target, stage, count(*)
    FROM report_initiative_facts
    WHERE NOT ($1::timestamptz IS NULL AND $2::timestamptz IS NULL AND $3::text IS NULL AND $4::text IS NULL)
      AND ($1::timestamptz IS NULL OR submitted_at >= $1)
      AND ($2::timestamptz IS NULL OR submitted_at < $2)
      AND ($3::text IS NULL OR team = $3)
      AND ($4::text IS NULL OR business_unit = $4)
    GROUP BY procurement, deployment_target, stage
)
SELECT CASE WHEN grouping(procurement) = 0 THEN 'procurement' ELSE 'deployment_target' END AS dimension,
       coalesce(procurement, deployment_target) AS value,
       sum(n)::int AS total,
       coalesce(sum(n) FILTER (WHERE stage = 'production'), 0)::int AS reached_production,
       coalesce(sum(n) FILTER (WHERE stage = 'scrapped'), 0)::int AS scrapped
FROM combos
GROUP BY GROUPING SETS ((procurement), (deployment_target))
ORDER BY dimension DESC, value
