-- Time in stage of the whole portfolio (no filter): the numbers of report_time_in_stage.sql without reading
-- every visit. Counts and stall totals are sums over report_stage_visit_days (a few hundred rows per stage);
-- each percentile is computed as percentile_cont does (the values at 0-based ranks floor(f * (n - 1)) and the
-- next, interpolated) after finding the day of duration its rank falls in, from that day's first visit in the
-- (stage, day, seconds) index of report_stage_visits.
WITH stages (stage, ord) AS (
    VALUES ('proposed', 1), ('poc', 2), ('infra_review', 3), ('it_signoff', 4), ('rollout', 5)
),
per_stage AS (
    SELECT stage,
           coalesce(sum(visits) FILTER (WHERE day >= 0), 0) AS completed_visits,
           coalesce(sum(visits) FILTER (WHERE day = -1), 0) AS open_visits,
           max(day) FILTER (WHERE day >= 0 AND visits > 0) AS longest_day,
           sum(stalls) AS stalls,
           sum(stalled_seconds) AS stalled_seconds
    FROM report_stage_visit_days
    GROUP BY stage
),
days AS (
    SELECT stage, day, visits, sum(visits) OVER (PARTITION BY stage ORDER BY day) - visits AS before
    FROM report_stage_visit_days
    WHERE day >= 0 AND visits > 0
),
ranks AS (
    SELECT p.stage,
           f.fraction,
           floor(f.fraction * (p.completed_visits - 1)::float8)::bigint AS rank,
           f.fraction * (p.completed_visits - 1)::float8 - floor(f.fraction * (p.completed_visits - 1)::float8)
               AS proportion
    FROM per_stage p
    CROSS JOIN (VALUES (0.5::float8), (0.9::float8)) f (fraction)
    WHERE p.completed_visits > 0
),
percentiles AS (
    SELECT r.stage,
           r.fraction,
           pair.v[1] + (coalesce(pair.v[2], pair.v[1]) - pair.v[1]) * r.proportion AS seconds
    FROM ranks r
    JOIN days d ON d.stage = r.stage AND r.rank >= d.before AND r.rank < d.before + d.visits
    CROSS JOIN LATERAL (
        SELECT array_agg(n.seconds ORDER BY n.day, n.seconds) AS v
        FROM (
            SELECT v.day, v.seconds
            FROM report_stage_visits v
            WHERE v.stage = r.stage AND v.day >= d.day
            ORDER BY v.day, v.seconds
            OFFSET r.rank - d.before
            LIMIT 2
        ) n
    ) pair
)
SELECT st.stage,
       coalesce(p.completed_visits, 0)::int AS completed_visits,
       (SELECT q.seconds FROM percentiles q WHERE q.stage = st.stage AND q.fraction = 0.5) AS p50_seconds,
       (SELECT q.seconds FROM percentiles q WHERE q.stage = st.stage AND q.fraction = 0.9) AS p90_seconds,
       (
           SELECT max(v.seconds)
           FROM report_stage_visits v
           WHERE v.stage = st.stage AND v.day = p.longest_day
       ) AS max_seconds,
       coalesce(p.open_visits, 0)::int AS open_visits,
       coalesce(p.stalls, 0)::int AS stalls,
       coalesce(p.stalled_seconds, 0)::float8 AS stalled_seconds
FROM stages st
LEFT JOIN per_stage p ON p.stage = st.stage
ORDER BY st.ord
