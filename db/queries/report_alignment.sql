-- Alignment: do initiatives bought inside the IT plan, or aimed at a given deployment target, reach
-- production more often? Counts by procurement and by deployment target in one pass (grouping sets).
-- Scope: $1 since, $2 until (submitted_at in [since, until)), $3 team, $4 business_unit; NULL = no filter.
SELECT CASE WHEN grouping(procurement) = 0 THEN 'procurement' ELSE 'deployment_target' END AS dimension,
       coalesce(procurement, deployment_target) AS value,
       count(*)::int AS total,
       count(*) FILTER (WHERE stage = 'production')::int AS reached_production,
       count(*) FILTER (WHERE stage = 'scrapped')::int AS scrapped
FROM initiatives
WHERE ($1::timestamptz IS NULL OR submitted_at >= $1)
  AND ($2::timestamptz IS NULL OR submitted_at < $2)
  AND ($3::text IS NULL OR team = $3)
  AND ($4::text IS NULL OR business_unit = $4)
GROUP BY GROUPING SETS ((procurement), (deployment_target))
ORDER BY dimension DESC, value
