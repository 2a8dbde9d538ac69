-- Stall reasons per period ($5: month or quarter, UTC) in which the stalls began: which causes are growing.
-- Scope as every report: $1 since, $2 until (submission time), $3 team, $4 business_unit; NULL = no filter.
-- Whole months of submission from report_stall_months (migration 0014), the partial ones at the window's ends
-- from the stalls themselves (as in report_cohorts.sql).
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
bounds AS (
    SELECT since,
           until,
           CASE WHEN months_from < months_until THEN months_from ELSE until END AS full_from,
           CASE WHEN months_from < months_until THEN months_until ELSE until END AS full_until
    FROM ends
),
counted AS (
    SELECT m.started_month, m.family, m.code, m.stalls::bigint AS n
    FROM bounds b
    JOIN report_stall_months m ON m.submitted_month >= b.full_from AND m.submitted_month < b.full_until
    WHERE ($3::text IS NULL OR m.team = $3) AND ($4::text IS NULL OR m.business_unit = $4)
    UNION ALL
    SELECT date_trunc('month', e.started_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', e.family, e.code, 1
    FROM bounds b
    JOIN report_stall_episodes e
        ON (e.submitted_at >= b.since AND e.submitted_at < b.full_from)
        OR (e.submitted_at >= b.full_until AND e.submitted_at < b.until)
    WHERE ($3::text IS NULL OR e.team = $3) AND ($4::text IS NULL OR e.business_unit = $4)
)
SELECT date_trunc($5::text, started_month, 'UTC') AS period, family, code, sum(n)::int AS stalls
FROM counted
GROUP BY 1, 2, 3
HAVING sum(n) <> 0
ORDER BY 1, stalls DESC, family, code
