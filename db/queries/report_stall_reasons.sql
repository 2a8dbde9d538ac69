-- Stall Pareto: stalls per reason (family, code) and stage, with how long they lasted.
-- Each stalled event is paired with the next stall-related event of the same initiative and stage (by seq):
-- a stall_cleared event, or the scrapped event when the stall ended in abandonment or a scrap, carries the
-- stall's duration in data.stalled_seconds; a stall with nothing after it is still open and counts up to now().
-- Scope: $1 since, $2 until (submitted_at in [since, until)), $3 team, $4 business_unit; NULL = no filter.
WITH marks AS (
    SELECT e.initiative_id,
           e.stage,
           e.kind,
           e.reason_family,
           e.reason_code,
           e.occurred_at,
           lead(e.kind) OVER w AS next_kind,
           lead(e.data) OVER w AS next_data
    FROM lifecycle_events e
    -- a LEFT JOIN the planner drops when no filter is set (every row has its initiative)
    LEFT JOIN initiatives i ON i.id = e.initiative_id
    WHERE e.kind IN ('stalled', 'stall_cleared', 'scrapped')
      AND ($1::timestamptz IS NULL OR i.submitted_at >= $1)
      AND ($2::timestamptz IS NULL OR i.submitted_at < $2)
      AND ($3::text IS NULL OR i.team = $3)
      AND ($4::text IS NULL OR i.business_unit = $4)
    WINDOW w AS (PARTITION BY e.initiative_id, e.stage ORDER BY e.seq)
),
stalls AS (
    SELECT initiative_id,
           stage,
           reason_family,
           reason_code,
           CASE
               WHEN next_kind IS NULL THEN extract(epoch FROM now() - occurred_at)::float8
               WHEN next_kind IN ('stall_cleared', 'scrapped')
                   THEN coalesce((next_data ->> 'stalled_seconds')::float8, 0)
               -- another stall began without this one's end on record: no duration to attribute
               ELSE 0
           END AS seconds
    FROM marks
    WHERE kind = 'stalled'
)
SELECT reason_family AS family,
       reason_code AS code,
       stage,
       count(*)::int AS stalls,
       count(DISTINCT initiative_id)::int AS initiatives,
       sum(seconds) AS total_stalled_seconds,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) AS median_stalled_seconds
FROM stalls
GROUP BY reason_family, reason_code, stage
ORDER BY stalls DESC, family, code, stage
