-- Sunk cost of scrapped initiatives per scrap reason (family, code) and the stage they were scrapped in:
-- PoC spend reported with the results (initiatives.poc_spend_usd) plus what was provisioned for them
-- (provisioned_resources.cost_usd, whatever the resource's state now), both kept per initiative by the rollup.
-- Scope: $1 since, $2 until (submitted_at in [since, until)), $3 team, $4 business_unit; NULL = no filter.
-- The whole portfolio (no filter) is read from report_portfolio_facts, counted by the writers; a part of it is
-- counted now from report_initiative_facts (migration 0005). The branch that does not apply is planned away.
WITH combos AS (
    SELECT scrap_family, scrap_code, scrap_stage, initiatives::bigint AS n, poc_spend_usd AS poc_usd, provisioning_usd
    FROM report_portfolio_facts
    -- a combination every initiative has left stays behind with a count of zero
    WHERE initiatives <> 0
      AND $1::timestamptz IS NULL AND $2::timestamptz IS NULL AND $3::text IS NULL AND $4::text IS NULL
      AND scrap_stage IS NOT NULL  -- scrapped (a scrap always has a stage)
    UNION ALL
    SELECT scrap_family, scrap_code, scrap_stage, count(*), sum(poc_spend_usd), sum(provisioning_usd)
    FROM report_initiative_facts
    WHERE NOT ($1::timestamptz IS NULL AND $2::timestamptz IS NULL AND $3::text IS NULL AND $4::text IS NULL)
      AND scrap_stage IS NOT NULL  -- scrapped (a scrap always has a stage)
      AND ($1::timestamptz IS NULL OR submitted_at >= $1)
      AND ($2::timestamptz IS NULL OR submitted_at < $2)
      AND ($3::text IS NULL OR team = $3)
      AND ($4::text IS NULL OR business_unit = $4)
    GROUP BY scrap_family, scrap_code, scrap_stage
),
per_reason AS (
    SELECT scrap_family, scrap_code, scrap_stage,
           sum(n) AS initiatives,
           sum(poc_usd) AS poc_usd,
           sum(provisioning_usd) AS provisioning_usd
    FROM combos
    GROUP BY scrap_family, scrap_code, scrap_stage
)
SELECT scrap_family AS family,
       scrap_code AS code,
       scrap_stage AS stage,
       initiatives::int AS initiatives,
       poc_usd::float8 AS poc_spend_usd,
       provisioning_usd::float8 AS provisioning_usd,
       (poc_usd + provisioning_usd)::float8 AS total_usd,
       -- summed as numeric here so the grand total has no float rounding
       (sum(poc_usd + provisioning_usd) OVER ())::float8 AS grand_total_usd
FROM per_reason
ORDER BY total_usd DESC, family, code, stage
