-- Cohorts: initiatives by the month or quarter ($5) they were submitted in (UTC), and what became of each
-- cohort. Counts are of distinct initiatives from the rollup's stage bits, as in the funnel (bit 2 = poc,
-- 4 = infra_review, 8 = it_signoff, 16 = rollout, 32 = production): summed over every cohort they equal it.
-- Scope: $1 since, $2 until (submitted_at in [since, until)), $3 team, $4 business_unit; NULL = no filter.
SELECT date_trunc($5::text, submitted_at, 'UTC') AS period,
       count(*)::int AS submitted,
       count(*) FILTER (WHERE reached & 2 <> 0)::int AS reached_poc,
       count(*) FILTER (WHERE scrapped & 2 <> 0)::int AS scrapped_in_poc,
       count(*) FILTER (WHERE reached & 4 <> 0)::int AS entered_infra_review,
       count(*) FILTER (WHERE reached & 32 <> 0)::int AS reached_production,
       count(*) FILTER (WHERE scrapped & 28 <> 0)::int AS scrapped_after_poc,
       count(*) FILTER (WHERE stage NOT IN ('production', 'scrapped'))::int AS still_open,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM production_at - submitted_at) / 86400.0)
           FILTER (WHERE production_at IS NOT NULL) AS median_days_to_production
FROM report_initiative_facts
WHERE ($1::timestamptz IS NULL OR submitted_at >= $1)
  AND ($2::timestamptz IS NULL OR submitted_at < $2)
  AND ($3::text IS NULL OR team = $3)
  AND ($4::text IS NULL OR business_unit = $4)
GROUP BY 1
ORDER BY 1
