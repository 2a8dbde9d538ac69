-- Cohorts' days to production: initiatives in production per period of submission ($5) and whole days from
-- submission to production, from which the median is found (db/reports_repo.cohorts).
-- Scope: $1 since, $2 until (submitted_at in [since, until); -infinity / infinity for no bound), $3 team,
-- $4 business_unit (NULL = no filter), $5 month or quarter. $6 and $7 bound the whole months (UTC) read from
-- the counters the writers keep, the whole portfolio's (migration 0014) or, for a team or business unit,
-- theirs (migration 0015): the caller sets them (db/reports_repo.cohort_months); the rest is counted from
-- the rows, in [since, $6) and [$7, until).
WITH counted AS (
    SELECT submitted_month, day, initiatives::bigint AS n
    FROM report_cohort_production_days
    WHERE submitted_month >= $6::timestamptz AND submitted_month < $7::timestamptz
      AND $3::text IS NULL AND $4::text IS NULL
    UNION ALL
    SELECT submitted_month, day, initiatives
    FROM report_team_cohort_production_days
    WHERE submitted_month >= $6::timestamptz AND submitted_month < $7::timestamptz
      AND ($3::text IS NOT NULL OR $4::text IS NOT NULL)
      AND ($3::text IS NULL OR team = $3) AND ($4::text IS NULL OR business_unit = $4)
    UNION ALL
    SELECT f.submitted_at,
           floor(date_part('epoch', f.production_at - f.submitted_at) / 86400)::int, 1
    FROM report_initiative_facts f
    WHERE ((f.submitted_at >= $1::timestamptz AND f.submitted_at < $6::timestamptz)
        OR (f.submitted_at >= $7::timestamptz AND f.submitted_at < $2::timestamptz))
      AND ($3::text IS NULL OR f.team = $3) AND ($4::text IS NULL OR f.business_unit = $4)
      AND f.production_at IS NOT NULL
)
SELECT date_trunc($5::text, submitted_month, 'UTC') AS period, day, sum(n)::int AS initiatives
FROM counted
GROUP BY 1, 2
HAVING sum(n) <> 0
ORDER BY 1, 2
