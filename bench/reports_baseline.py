"""Naive baselines for ``bench.reports``: each report's question answered the obvious way, from the event log.

They take the same four parameters as the report queries ($1 since, $2 until, $3 team, $4 business unit) and
deliberately ignore what the reports lean on: the ``stage_intervals`` read model (visits, stall columns),
pairing by window functions, grouping sets. They are for timing, not for their exact numbers.
"""

from __future__ import annotations

# Every baseline starts with the initiatives in scope, then continues this WITH clause.
SCOPE = """WITH scope AS (
    SELECT id FROM initiatives
    WHERE ($1::timestamptz IS NULL OR submitted_at >= $1)
      AND ($2::timestamptz IS NULL OR submitted_at < $2)
      AND ($3::text IS NULL OR team = $3)
      AND ($4::text IS NULL OR business_unit = $4)
)"""

_BODIES: dict[str, str] = {
    # Funnel: distinct initiatives per stage and event kind, straight from the log.
    "funnel": """
SELECT (SELECT count(*) FROM scope) AS total, e.stage,
       count(DISTINCT e.initiative_id) FILTER (WHERE e.kind = 'stage_entered') AS reached,
       count(DISTINCT e.initiative_id) FILTER (
           WHERE e.kind = 'stage_left' AND e.data ->> 'outcome' = 'advanced') AS advanced,
       count(DISTINCT e.initiative_id) FILTER (WHERE e.kind = 'scrapped') AS scrapped
FROM lifecycle_events e JOIN scope s ON s.id = e.initiative_id
GROUP BY e.stage
""",
    # Stall reasons: GROUP BY over the stalled events; each stall's duration from the next event that ends it.
    "stall-reasons": """,
stalls AS (
    SELECT st.reason_family, st.reason_code, st.stage, st.initiative_id,
           coalesce((SELECT CASE WHEN n.kind = 'stalled' THEN 0
                                 ELSE coalesce((n.data ->> 'stalled_seconds')::float8, 0) END
                     FROM lifecycle_events n
                     WHERE n.initiative_id = st.initiative_id AND n.stage = st.stage AND n.seq > st.seq
                       AND n.kind IN ('stalled', 'stall_cleared', 'scrapped')
                     ORDER BY n.seq LIMIT 1),
                    extract(epoch FROM now() - st.occurred_at)::float8) AS seconds
    FROM lifecycle_events st JOIN scope s ON s.id = st.initiative_id
    WHERE st.kind = 'stalled'
)
SELECT reason_family, reason_code, stage, count(*) AS stalls, count(DISTINCT initiative_id) AS initiatives,
       sum(seconds) AS total, percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) AS median
FROM stalls
GROUP BY 1, 2, 3
ORDER BY stalls DESC, 1, 2, 3
""",
    # Scrap reasons: GROUP BY over the scrapped events, the stall behind an abandonment by a subquery.
    "scrap-reasons": """,
scraps AS (
    SELECT e.reason_family, e.reason_code, e.stage, e.initiative_id,
           CASE WHEN e.reason_code = 'ABANDONED' THEN (
               SELECT st.reason_code FROM lifecycle_events st
               WHERE st.initiative_id = e.initiative_id AND st.kind = 'stalled' AND st.seq < e.seq
               ORDER BY st.seq DESC LIMIT 1) END AS underlying
    FROM lifecycle_events e JOIN scope s ON s.id = e.initiative_id
    WHERE e.kind = 'scrapped'
)
SELECT reason_family, reason_code, stage, underlying, count(DISTINCT initiative_id) AS initiatives
FROM scraps
GROUP BY 1, 2, 3, 4
ORDER BY initiatives DESC
""",
    # Time in stage: each stage_entered paired with the event that ends the visit; stalls from the log.
    "time-in-stage": """,
visits AS (
    SELECT en.stage,
           (SELECT extract(epoch FROM x.occurred_at - en.occurred_at)::float8
            FROM lifecycle_events x
            WHERE x.initiative_id = en.initiative_id AND x.stage = en.stage AND x.seq > en.seq
              AND x.kind IN ('stage_left', 'scrapped')
            ORDER BY x.seq LIMIT 1) AS seconds
    FROM lifecycle_events en JOIN scope s ON s.id = en.initiative_id
    WHERE en.kind = 'stage_entered' AND en.stage NOT IN ('production', 'scrapped')
),
stalls AS (
    SELECT e.stage, count(*) FILTER (WHERE e.kind = 'stalled') AS stalls,
           coalesce(sum((e.data ->> 'stalled_seconds')::float8) FILTER (WHERE e.kind <> 'stalled'), 0) AS seconds
    FROM lifecycle_events e JOIN scope s ON s.id = e.initiative_id
    WHERE e.kind IN ('stalled', 'stall_cleared', 'scrapped')
    GROUP BY e.stage
)
SELECT v.stage, count(v.seconds) AS completed, percentile_cont(0.5) WITHIN GROUP (ORDER BY v.seconds) AS p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY v.seconds) AS p90, max(v.seconds) AS max,
       count(*) - count(v.seconds) AS open, max(st.stalls) AS stalls, max(st.seconds) AS stalled_seconds
FROM visits v LEFT JOIN stalls st ON st.stage = v.stage
GROUP BY v.stage
""",
    # Stalled now: the latest stall, the latest stall end and the escalations of every initiative, then filter.
    "stalled-now": """,
last_stall AS (
    SELECT DISTINCT ON (initiative_id) initiative_id, seq, reason_code, reason_family, occurred_at
    FROM lifecycle_events WHERE kind = 'stalled'
    ORDER BY initiative_id, seq DESC
),
last_end AS (
    SELECT initiative_id, max(seq) AS seq FROM lifecycle_events
    WHERE kind IN ('stall_cleared', 'scrapped', 'stage_left')
    GROUP BY initiative_id
),
escalations AS (
    SELECT e.initiative_id, count(*) AS level
    FROM lifecycle_events e JOIN last_stall s ON s.initiative_id = e.initiative_id AND e.seq > s.seq
    WHERE e.kind = 'escalated'
    GROUP BY e.initiative_id
)
SELECT i.id, i.title, i.team, i.business_unit, i.stage, i.status, s.reason_code, s.reason_family,
       coalesce(s.occurred_at, i.stage_entered_at) AS since, coalesce(x.level, 0) AS level, i.awaiting_roles
FROM initiatives i
JOIN scope sc ON sc.id = i.id
LEFT JOIN last_stall s ON s.initiative_id = i.id
LEFT JOIN last_end le ON le.initiative_id = i.id
LEFT JOIN escalations x ON x.initiative_id = i.id
WHERE i.status = 'stalled' OR (i.status = 'on_hold' AND s.seq IS NOT NULL AND coalesce(le.seq, 0) < s.seq)
ORDER BY since, i.id
""",
    # Sunk cost: scrapped initiatives joined to their scrapped event, provisioning summed per initiative.
    "sunk-cost": """,
costs AS (
    SELECT e.reason_family, e.reason_code, e.stage, count(*) AS initiatives, sum(i.poc_spend_usd) AS poc,
           sum((SELECT coalesce(sum(pr.cost_usd), 0) FROM provisioned_resources pr WHERE pr.initiative_id = i.id))
               AS provisioning
    FROM initiatives i
    JOIN scope s ON s.id = i.id
    JOIN lifecycle_events e ON e.initiative_id = i.id AND e.kind = 'scrapped'
    WHERE i.status = 'scrapped'
    GROUP BY 1, 2, 3
)
SELECT *, poc + provisioning AS total FROM costs ORDER BY total DESC
""",
    # Alignment: one GROUP BY per dimension.
    "alignment": """
SELECT 'procurement' AS dimension, procurement AS value, count(*) AS total,
       count(*) FILTER (WHERE stage = 'production') AS production, count(*) FILTER (WHERE stage = 'scrapped') AS scr
FROM initiatives i JOIN scope s ON s.id = i.id GROUP BY procurement
UNION ALL
SELECT 'deployment_target', deployment_target, count(*),
       count(*) FILTER (WHERE stage = 'production'), count(*) FILTER (WHERE stage = 'scrapped')
FROM initiatives i JOIN scope s ON s.id = i.id GROUP BY deployment_target
""",
    # Cohorts: per submission month, the stages each initiative's events show it reached or was scrapped in.
    "cohorts": """
SELECT date_trunc('month', i.submitted_at, 'UTC') AS period, count(*) AS submitted,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM lifecycle_events e WHERE e.initiative_id = i.id
                                      AND e.kind = 'stage_entered' AND e.stage = 'poc')) AS reached_poc,
       count(*) FILTER (WHERE i.stage = 'scrapped') AS scrapped,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY (
           SELECT extract(epoch FROM min(e.occurred_at) - i.submitted_at) FROM lifecycle_events e
           WHERE e.initiative_id = i.id AND e.kind = 'stage_entered' AND e.stage = 'production')) AS median
FROM initiatives i JOIN scope s ON s.id = i.id
GROUP BY 1 ORDER BY 1
""",
    # Spend: every initiative in scope joined to its resources, summed, sorted.
    "spend": """
SELECT i.id, i.team, i.business_unit, i.budget_usd, i.poc_spend_usd, sum(pr.cost_usd) AS provisioned,
       sum(pr.cost_usd) > i.budget_usd AS over_budget
FROM initiatives i JOIN scope s ON s.id = i.id
LEFT JOIN provisioned_resources pr ON pr.initiative_id = i.id
GROUP BY i.id ORDER BY i.poc_spend_usd + coalesce(sum(pr.cost_usd), 0) DESC
""",
}

#: The naive query of every report, by report name.
BASELINES: dict[str, str] = {name: SCOPE + body for name, body in _BODIES.items()}
