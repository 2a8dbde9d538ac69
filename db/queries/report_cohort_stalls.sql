-- Stall reasons per period ($5: month or quarter, UTC) in which the stalls began: which causes are growing.
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
    SELECT m.started_month, m.family, m.code, m.stalls::bigint AS n
    FROM bounds b
    JOIN report_stall_months m ON m.submitted_month >= b.full_from AND m.submitted_month < b.full_until
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
