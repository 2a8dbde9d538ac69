-- Time in stage: durations of completed stage visits (p50, p90, max) and visits still open, per stage in
-- lifecycle order. The terminal production and scrapped intervals are instants, not visits; a visit closed
-- by a scrap is a completed visit of the stage it was in. Stall totals come from the same visits.
-- The rollup of visits (migration 0005) keeps each visit's duration in seconds and its scope columns.
-- Scope: $1 since, $2 until (submitted_at in [since, until)), $3 team, $4 business_unit; NULL = no filter.
WITH stages (stage, ord) AS (
    VALUES ('proposed', 1), ('poc', 2), ('infra_review', 3), ('it_signoff', 4), ('rollout', 5)
),
per_stage AS (
    SELECT v.stage,
           count(v.seconds) AS completed_visits,
           -- both percentiles from one sort; open visits (NULL durations) are skipped
           percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY v.seconds) AS percentiles,
           max(v.seconds) AS longest,
           count(*) FILTER (WHERE v.seconds IS NULL) AS open_visits,
           sum(v.stalls) AS stalls,
           sum(v.stalled_seconds) AS stalled_seconds
    FROM report_stage_visits v
    WHERE ($1::timestamptz IS NULL OR v.submitted_at >= $1)
      AND ($2::timestamptz IS NULL OR v.submitted_at < $2)
      AND ($3::text IS NULL OR v.team = $3)
      AND ($4::text IS NULL OR v.business_unit = $4)
    GROUP BY v.stage
)
SELECT st.stage,
       coalesce(p.completed_visits, 0)::int AS completed_visits,
       p.percentiles[1] AS p50_seconds,
       p.percentiles[2] AS p90_seconds,
       p.longest AS max_seconds,
       coalesce(p.open_visits, 0)::int AS open_visits,
       coalesce(p.stalls, 0)::int AS stalls,
       coalesce(p.stalled_seconds, 0)::float8 AS stalled_seconds
FROM stages st
LEFT JOIN per_stage p ON p.stage = st.stage
ORDER BY st.ord
