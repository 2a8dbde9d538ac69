-- Time in stage for a window of submission time: $1 since, $2 until (submitted_at in [since, until); NULL = no
-- bound), so also for the whole portfolio. The numbers of report_time_in_stage.sql for the same scope, without
-- reading every visit in it:
-- * the months (UTC) wholly inside the window are read from report_stage_visit_days, counted by the writers;
--   the initiatives submitted in the partial months at its ends are counted now from their visits;
-- * counts and stall totals are sums of those counts;
-- * each percentile is computed as percentile_cont does (the values at 0-based ranks floor(f * (n - 1)) and the
--   next, interpolated) once the day of duration its rank falls in is known: the (stage, day, seconds) index
--   of report_stage_visits is read from that day's first visit on, skipping visits outside the window.
WITH stages (stage, ord) AS (
    VALUES ('proposed', 1), ('poc', 2), ('infra_review', 3), ('it_signoff', 4), ('rollout', 5)
),
ends AS (
    SELECT coalesce($1::timestamptz, '-infinity') AS since,
           coalesce($2::timestamptz, 'infinity') AS until,
           -- the first month that starts inside the window, and the start of the month the window ends in
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
-- whole months from full_from to full_until, and row by row before and after them; no whole month: all rows
bounds AS (
    SELECT since,
           until,
           CASE WHEN months_from < months_until THEN months_from ELSE until END AS full_from,
           CASE WHEN months_from < months_until THEN months_until ELSE until END AS full_until
    FROM ends
),
counts AS (
    SELECT d.stage, d.day, d.visits::bigint AS visits, d.stalls, d.stalled_seconds
    FROM bounds b
    JOIN report_stage_visit_days d ON d.submitted_month >= b.full_from AND d.submitted_month < b.full_until
    UNION ALL
    SELECT v.stage, coalesce(v.day, -1), 1, v.stalls, v.stalled_seconds::numeric
    FROM bounds b
    JOIN report_stage_visits v
        ON (v.submitted_at >= b.since AND v.submitted_at < b.full_from)
        OR (v.submitted_at >= b.full_until AND v.submitted_at < b.until)
),
per_day AS (
    SELECT stage, day, sum(visits) AS visits, sum(stalls) AS stalls, sum(stalled_seconds) AS stalled_seconds
    FROM counts
    GROUP BY stage, day
),
per_stage AS (
    SELECT stage,
           coalesce(sum(visits) FILTER (WHERE day >= 0), 0) AS completed_visits,
           coalesce(sum(visits) FILTER (WHERE day = -1), 0) AS open_visits,
           max(day) FILTER (WHERE day >= 0 AND visits > 0) AS longest_day,
           sum(stalls) AS stalls,
           sum(stalled_seconds) AS stalled_seconds
    FROM per_day
    GROUP BY stage
),
days AS (
    SELECT stage, day, visits, sum(visits) OVER (PARTITION BY stage ORDER BY day) - visits AS before
    FROM per_day
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
    CROSS JOIN bounds b
    CROSS JOIN LATERAL (
        SELECT array_agg(n.seconds ORDER BY n.day, n.seconds) AS v
        FROM (
            SELECT v.day, v.seconds
            FROM report_stage_visits v
            WHERE v.stage = r.stage AND v.day >= d.day AND v.submitted_at >= b.since AND v.submitted_at < b.until
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
           FROM report_stage_visits v, bounds b
           WHERE v.stage = st.stage AND v.day = p.longest_day AND v.submitted_at >= b.since AND v.submitted_at < b.until
       ) AS max_seconds,
       coalesce(p.open_visits, 0)::int AS open_visits,
       coalesce(p.stalls, 0)::int AS stalls,
       coalesce(p.stalled_seconds, 0)::float8 AS stalled_seconds
FROM stages st
LEFT JOIN per_stage p ON p.stage = st.stage
ORDER BY st.ord
