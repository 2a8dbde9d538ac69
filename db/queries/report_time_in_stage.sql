-- Time in stage: durations of completed stage visits (p50, p90, max) and visits still open, per stage in
-- lifecycle order. The terminal production and scrapped intervals are instants, not visits; a visit closed
-- by a scrap is a completed visit of the stage it was in. Stall totals come from the same visits.
-- Durations stay intervals until the end: converting every row to seconds costs more than the sort.
-- Scope: $1 since, $2 until (submitted_at in [since, until)), $3 team, $4 business_unit; NULL = no filter.
WITH stages (stage, ord) AS (
    VALUES ('proposed', 1), ('poc', 2), ('infra_review', 3), ('it_signoff', 4), ('rollout', 5)
),
per_stage AS (
    SELECT si.stage,
           count(si.left_at) AS completed_visits,
           -- both percentiles from one sort; open visits (NULL durations) are skipped
           percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY si.left_at - si.entered_at) AS percentiles,
           max(si.left_at - si.entered_at) AS longest,
           count(*) FILTER (WHERE si.left_at IS NULL) AS open_visits,
           sum(si.stalls) AS stalls,
           sum(si.stalled_seconds) AS stalled_seconds
    FROM stage_intervals si
    -- a LEFT JOIN the planner drops when no filter is set (every row has its initiative)
    LEFT JOIN initiatives i ON i.id = si.initiative_id
    WHERE si.stage NOT IN ('production', 'scrapped')
      AND ($1::timestamptz IS NULL OR i.submitted_at >= $1)
      AND ($2::timestamptz IS NULL OR i.submitted_at < $2)
      AND ($3::text IS NULL OR i.team = $3)
      AND ($4::text IS NULL OR i.business_unit = $4)
    GROUP BY si.stage
)
SELECT st.stage,
       coalesce(p.completed_visits, 0)::int AS completed_visits,
       extract(epoch FROM p.percentiles[1])::float8 AS p50_seconds,
       extract(epoch FROM p.percentiles[2])::float8 AS p90_seconds,
       extract(epoch FROM p.longest)::float8 AS max_seconds,
       coalesce(p.open_visits, 0)::int AS open_visits,
       coalesce(p.stalls, 0)::int AS stalls,
       coalesce(p.stalled_seconds, 0)::float8 AS stalled_seconds
FROM stages st
LEFT JOIN per_stage p ON p.stage = st.stage
ORDER BY st.ord
