-- Cohorts: initiatives by the month or quarter ($5) they were submitted in (UTC), and what became of each
-- cohort. Counts are of distinct initiatives from the rollup's stage bits, as in the funnel (bit 2 = poc,
-- 4 = infra_review, 8 = it_signoff, 16 = rollout, 32 = production): over every cohort they equal it.
-- Scope: $1 since, $2 until (submitted_at in [since, until); -infinity / infinity for no bound), $3 team,
-- $4 business_unit (NULL = no filter), $5 month or quarter. $6 and $7 bound the whole months (UTC) read from
-- the counters the writers keep, the whole portfolio's (migration 0014) or, for a team or business unit,
-- theirs (migration 0015): the caller sets them (db/reports_repo.cohort_months); the rest is counted from
-- the rows, in [since, $6) and [$7, until).
WITH counted AS (
    SELECT submitted_month, reached, scrapped, open, initiatives::bigint AS n
    FROM report_cohort_counts
    WHERE submitted_month >= $6::timestamptz AND submitted_month < $7::timestamptz
      AND $3::text IS NULL AND $4::text IS NULL
    UNION ALL
    SELECT submitted_month, reached, scrapped, open, initiatives
    FROM report_team_cohort_counts
    WHERE submitted_month >= $6::timestamptz AND submitted_month < $7::timestamptz
      AND ($3::text IS NOT NULL OR $4::text IS NOT NULL)
      AND ($3::text IS NULL OR team = $3) AND ($4::text IS NULL OR business_unit = $4)
    UNION ALL
    SELECT f.submitted_at, f.reached, f.scrapped,
           f.stage NOT IN ('production', 'scrapped'), 1
    FROM report_initiative_facts f
    WHERE ((f.submitted_at >= $1::timestamptz AND f.submitted_at < $6::timestamptz)
        OR (f.submitted_at >= $7::timestamptz AND f.submitted_at < $2::timestamptz))
      AND ($3::text IS NULL OR f.team = $3) AND ($4::text IS NULL OR f.business_unit = $4)
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
