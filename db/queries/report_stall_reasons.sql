-- Stall Pareto: stalls per reason (family, code) and stage, with how long they lasted.
-- One rollup row per stall (see migration 0005 for how a stall is paired with its end); a stall still open
-- counts up to now(). first_of_reason marks one stall per initiative and reason, which counts initiatives.
-- Scope: $1 since, $2 until (submitted_at in [since, until)), $3 team, $4 business_unit; NULL = no filter.
WITH stalls AS (
    SELECT family,
           code,
           stage,
           first_of_reason,
           coalesce(seconds, extract(epoch FROM now() - started_at)::float8) AS seconds
    FROM report_stall_episodes
    WHERE ($1::timestamptz IS NULL OR submitted_at >= $1)
      AND ($2::timestamptz IS NULL OR submitted_at < $2)
      AND ($3::text IS NULL OR team = $3)
      AND ($4::text IS NULL OR business_unit = $4)
)
SELECT family,
       code,
       stage,
       count(*)::int AS stalls,
       count(*) FILTER (WHERE first_of_reason)::int AS initiatives,
       sum(seconds) AS total_stalled_seconds,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) AS median_stalled_seconds
FROM stalls
GROUP BY family, code, stage
ORDER BY stalls DESC, family, code, stage
