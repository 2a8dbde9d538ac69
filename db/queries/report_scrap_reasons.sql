-- Scrap Pareto: scrapped initiatives per reason (family, code) and the stage they were scrapped in.
-- ABANDONED says only that a stall lasted too long; the reason of the last stall before it (underlying_code)
-- says why, so abandoned initiatives are grouped by that too (the rollup keeps it: see migration 0005).
-- Scope: $1 since, $2 until (submitted_at in [since, until)), $3 team, $4 business_unit; NULL = no filter.
-- The whole portfolio (no filter) is read from report_portfolio_facts, counted by the writers; a part of it is
-- counted now from report_initiative_facts (migration 0005). The branch that does not apply is planned away.
WITH combos AS (
    SELECT scrap_family, scrap_code, scrap_stage, scrap_underlying_code, initiatives::bigint AS n
    FROM report_portfolio_facts
    -- a combination every initiative has left stays behind with a count of zero
    WHERE initiatives <> 0
      AND $1::timestamptz IS NULL AND $2::timestamptz IS NULL AND $3::text IS NULL AND $4::text IS NULL
      AND scrap_stage IS NOT NULL  -- scrapped (a scrap always has a stage)
    UNION ALL
    SELECT scrap_family, scrap_code, scrap_stage, scrap_underlying_code, count(*)
    FROM report_initiative_facts
    WHERE NOT ($1::timestamptz IS NULL AND $2::timestamptz IS NULL AND $3::text IS NULL AND $4::text IS NULL)
      AND scrap_stage IS NOT NULL  -- scrapped (a scrap always has a stage)
      AND ($1::timestamptz IS NULL OR submitted_at >= $1)
      AND ($2::timestamptz IS NULL OR submitted_at < $2)
      AND ($3::text IS NULL OR team = $3)
      AND ($4::text IS NULL OR business_unit = $4)
    GROUP BY scrap_family, scrap_code, scrap_stage, scrap_underlying_code
)
SELECT scrap_family AS family,
       scrap_code AS code,
       scrap_stage AS stage,
       scrap_underlying_code AS underlying_code,
       sum(n)::int AS initiatives
FROM combos
GROUP BY scrap_family, scrap_code, scrap_stage, scrap_underlying_code
ORDER BY initiatives DESC, family, code, stage, underlying_code NULLS FIRST
