-- Spend against budget per initiative in scope ($1 since, $2 until, $3 team, $4 business_unit; NULL = no
-- filter), most spent first, at most $5 rows; $6 the share of the budget above which provisioned cost is over
-- budget (the policy's, default 1.0). From the initiative_spend view (migration 0013).
SELECT id, title, team, business_unit, stage,
       budget_usd::float8 AS budget_usd,
       poc_spend_usd::float8 AS poc_spend_usd,
       provisioned_usd::float8 AS provisioned_usd,
       run_rate_usd::float8 AS monthly_run_rate_usd,
       (poc_spend_usd + provisioned_usd)::float8 AS spent_usd,
       stage = 'scrapped' AS scrapped,
       provisioned_usd > budget_usd * $6::float8 AS over_budget
FROM initiative_spend
WHERE ($1::timestamptz IS NULL OR submitted_at >= $1)
  AND ($2::timestamptz IS NULL OR submitted_at < $2)
  AND ($3::text IS NULL OR team = $3)
  AND ($4::text IS NULL OR business_unit = $4)
ORDER BY spent_usd DESC, id
LIMIT $5
