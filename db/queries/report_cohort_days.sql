-- Cohorts' days to production: initiatives in production per period of submission ($5) and whole days from
-- submission to production, from which the median is found (db/reports_repo.cohorts).
-- Scope: $1 since, $2 until (submitted_at in [since, until)), $3 team, $4 business_unit; NULL = no filter.
-- The months (UTC) wholly inside the window are read from counters the writers keep (migration 0014); the
-- initiatives submitted in the partial months at its ends, or of one team or business unit, from their rows.
WITH ends AS (
    SELECT coalesce($1::timestamptz, '-infinity') AS since,
           coalesce($2::timestamptz, 'infinity') AS until,
           CASE
               WHEN $1::timestamptz IS NULL THEN '-infinity'::timestamptz
               WHEN date_trunc('month', $1::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' = $1::timestamptz
                   THEN $1::timestamptz
               ELSE (date_trunc('month', $1::timestamptz AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC'
           END AS months_from,
           CASE
               WHEN $2::timestamptz IS NULL THEN 'infinity'::timestamptz
               ELSE date_trunc('month', $2::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
           END AS months_until
),
-- whole months from full_from to full_until (none for a team or business unit: the counters are not kept
-- per team), and row by row before and after them
bounds AS (
    SELECT since,
           until,
           CASE WHEN months_from < months_until AND $3::text IS NULL AND $4::text IS NULL
                THEN months_from ELSE until END AS full_from,
           CASE WHEN months_from < months_until AND $3::text IS NULL AND $4::text IS NULL
                THEN months_until ELSE until END AS full_until
    FROM ends
),
counted AS (
    SELECT d.submitted_month, d.day, d.initiatives::bigint AS n
    FROM bounds b
    JOIN report_cohort_production_days d ON d.submitted_month >= b.full_from AND d.submitted_month < b.full_until
    UNION ALL
    SELECT date_trunc('month', f.submitted_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
           floor(extract(epoch FROM f.production_at - f.submitted_at) / 86400)::int, 1
    FROM bounds b
    JOIN report_initiative_facts f
        ON (f.submitted_at >= b.since AND f.submitted_at < b.full_from)
        OR (f.submitted_at >= b.full_until AND f.submitted_at < b.until)
    WHERE ($3::text IS NULL OR f.team = $3) AND ($4::text IS NULL OR f.business_unit = $4)
      AND f.production_at IS NOT NULL
)
SELECT date_trunc($5::text, submitted_month, 'UTC') AS period, day, sum(n)::int AS initiatives
FROM counted
GROUP BY 1, 2
HAVING sum(n) <> 0
ORDER BY 1, 2
