-- Spend against budget rolled up by team, by business unit and over everything in scope (grouping sets), from
-- the initiative_spend view; the scope as in report_spend.sql, $5 the over-budget share.
SELECT CASE WHEN GROUPING(team) = 0 THEN 'team' WHEN GROUPING(business_unit) = 0 THEN 'business_unit'
            ELSE 'total' END AS dimension,
       coalesce(team, business_unit) AS value,
       count(*)::int AS initiatives,
       coalesce(sum(budget_usd), 0)::float8 AS budget_usd,
       coalesce(sum(poc_spend_usd), 0)::float8 AS poc_spend_usd,
       coalesce(sum(provisioned_usd), 0)::float8 AS provisioned_usd,
       coalesce(sum(run_rate_usd), 0)::float8 AS monthly_run_rate_usd,
       coalesce(sum(poc_spend_usd + provisioned_usd) FILTER (WHERE stage = 'scrapped'), 0)::float8
           AS scrapped_spend_usd,
       count(*) FILTER (WHERE provisioned_usd > budget_usd * $5::float8)::int AS over_budget
FROM initiative_spend
WHERE ($1::timestamptz IS NULL OR submitted_at >= $1)
  AND ($2::timestamptz IS NULL OR submitted_at < $2)
  AND ($3::text IS NULL OR team = $3)
  AND ($4::text IS NULL OR business_unit = $4)
GROUP BY GROUPING SETS ((team), (business_unit), ())
ORDER BY dimension, provisioned_usd DESC, value
