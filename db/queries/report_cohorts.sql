-- Cohorts: initiatives by the month or quarter ($5) they were submitted in (UTC), and what became of each
-- cohort. Counts are of distinct initiatives from the rollup's stage bits, as in the funnel (bit 2 = poc,
-- 4 = infra_review, 8 = it_signoff, 16 = rollout, 32 = production): over every cohort they equal it.
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
    SELECT c.submitted_month, c.reached, c.scrapped, c.open, c.initiatives::bigint AS n
    FROM bounds b
    JOIN report_cohort_counts c ON c.submitted_month >= b.full_from AND c.submitted_month < b.full_until
    UNION ALL
    SELECT date_trunc('month', f.submitted_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', f.reached, f.scrapped,
           f.stage NOT IN ('production', 'scrapped'), 1
    FROM bounds b
    JOIN report_initiative_facts f
        ON (f.submitted_at >= b.since AND f.submitted_at < b.full_from)
        OR (f.submitted_at >= b.full_until AND f.submitted_at < b.until)
    WHERE ($3::text IS NULL OR f.team = $3) AND ($4::text IS NULL OR f.business_unit = $4)
)
SELECT date_trunc($5::text, submitted_month, 'UTC') AS period,
       sum(n)::int AS submitted,
       coalesce(sum(n) FILTER (WHERE reached & 2 <> 0), 0)::int AS reached_poc,
       coalesce(sum(n) FILTER (WHERE scrapped & 2 <> 0), 0)::int AS scrapped_in_poc,
       coalesce(sum(n) FILTER (WHERE reached & 4 <> 0), 0)::int AS entered_infra_review,
       coalesce(sum(n) FILTER (WHERE reached & 32 <> 0), 0)::int AS reached_production,
       coalesce(sum(n) FILTER (WHERE scrapped & 28 <> 0), 0)::int AS scrapped_after_poc,
       coalesce(sum(n) FILTER (WHERE open), 0)::int AS still_open
FROM counted
GROUP BY 1
HAVING sum(n) <> 0
ORDER BY 1
