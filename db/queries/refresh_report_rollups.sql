-- Recompute the report rollups of one initiative ($1) from their sources, the *_source views of migration 0005.
-- Idempotent: a retried write recomputes the same rows and changes no count. The writes see the same snapshot
-- and touch different tables; rows that did not change are left alone (no dead tuples for nothing).
WITH new_facts AS MATERIALIZED (
    SELECT * FROM report_initiative_facts_source WHERE initiative_id = $1
),
facts AS (
    INSERT INTO report_initiative_facts AS f
    SELECT * FROM new_facts
    ON CONFLICT (initiative_id) DO UPDATE SET
        team = EXCLUDED.team,
        business_unit = EXCLUDED.business_unit,
        submitted_at = EXCLUDED.submitted_at,
        procurement = EXCLUDED.procurement,
        deployment_target = EXCLUDED.deployment_target,
        stage = EXCLUDED.stage,
        reached = EXCLUDED.reached,
        advanced = EXCLUDED.advanced,
        scrapped = EXCLUDED.scrapped,
        scrap_stage = EXCLUDED.scrap_stage,
        scrap_family = EXCLUDED.scrap_family,
        scrap_code = EXCLUDED.scrap_code,
        scrap_underlying_code = EXCLUDED.scrap_underlying_code,
        poc_spend_usd = EXCLUDED.poc_spend_usd,
        provisioning_usd = EXCLUDED.provisioning_usd,
        production_at = EXCLUDED.production_at
    WHERE f IS DISTINCT FROM EXCLUDED
),
-- What this refresh changes in report_initiative_facts (its row before minus after; this statement's snapshot
-- still sees the row before), added to the whole portfolio's counts. Rows are locked in key order, so two
-- refreshes of different initiatives never wait for each other in a cycle.
fact_changes AS (
    SELECT reached, advanced, scrapped, stage, procurement, deployment_target,
           scrap_stage, scrap_family, scrap_code, scrap_underlying_code,
           sum(sign)::int AS initiatives,
           sum(sign * poc_spend_usd) AS poc_spend_usd,
           sum(sign * provisioning_usd) AS provisioning_usd
    FROM (
        SELECT *, 1 AS sign FROM new_facts
        UNION ALL
        SELECT *, -1 AS sign FROM report_initiative_facts WHERE initiative_id = $1
    ) changes
    GROUP BY reached, advanced, scrapped, stage, procurement, deployment_target,
             scrap_stage, scrap_family, scrap_code, scrap_underlying_code
    HAVING sum(sign) <> 0 OR sum(sign * poc_spend_usd) <> 0 OR sum(sign * provisioning_usd) <> 0
    ORDER BY reached, advanced, scrapped, stage, procurement, deployment_target,
             scrap_stage, scrap_family, scrap_code, scrap_underlying_code
),
portfolio AS (
    INSERT INTO report_portfolio_facts AS p
    SELECT * FROM fact_changes
    ON CONFLICT (reached, advanced, scrapped, stage, procurement, deployment_target,
                 scrap_stage, scrap_family, scrap_code, scrap_underlying_code) DO UPDATE SET
        initiatives = p.initiatives + EXCLUDED.initiatives,
        poc_spend_usd = p.poc_spend_usd + EXCLUDED.poc_spend_usd,
        provisioning_usd = p.provisioning_usd + EXCLUDED.provisioning_usd
),
-- The same for the cohort counts, per team and business unit (migration 0015) and, summed from those, for
-- the whole portfolio (migration 0014): by month of submission, stage bits and open or not, and the
-- initiatives in production by whole days to production.
team_cohort_changes AS (
    SELECT team, business_unit,
           date_trunc('month', submitted_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS submitted_month,
           reached, scrapped, stage NOT IN ('production', 'scrapped') AS open, sum(sign)::int AS initiatives
    FROM (
        SELECT team, business_unit, submitted_at, reached, scrapped, stage, 1 AS sign FROM new_facts
        UNION ALL
        SELECT team, business_unit, submitted_at, reached, scrapped, stage, -1 AS sign
        FROM report_initiative_facts WHERE initiative_id = $1
    ) changes
    GROUP BY 1, 2, 3, 4, 5, 6
    HAVING sum(sign) <> 0
    ORDER BY 1, 2, 3, 4, 5, 6
),
team_cohorts AS (
    INSERT INTO report_team_cohort_counts AS c
    SELECT * FROM team_cohort_changes
    ON CONFLICT (team, business_unit, submitted_month, reached, scrapped, open) DO UPDATE SET
        initiatives = c.initiatives + EXCLUDED.initiatives
),
cohorts AS (
    INSERT INTO report_cohort_counts AS c
    SELECT submitted_month, reached, scrapped, open, sum(initiatives)::int
    FROM team_cohort_changes
    GROUP BY 1, 2, 3, 4
    HAVING sum(initiatives) <> 0
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (submitted_month, reached, scrapped, open) DO UPDATE SET
        initiatives = c.initiatives + EXCLUDED.initiatives
),
team_production_day_changes AS (
    SELECT team, business_unit,
           date_trunc('month', submitted_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS submitted_month,
           floor(extract(epoch FROM production_at - submitted_at) / 86400)::int AS day,
           sum(sign)::int AS initiatives
    FROM (
        SELECT team, business_unit, submitted_at, production_at, 1 AS sign
        FROM new_facts WHERE production_at IS NOT NULL
        UNION ALL
        SELECT team, business_unit, submitted_at, production_at, -1 AS sign
        FROM report_initiative_facts WHERE initiative_id = $1 AND production_at IS NOT NULL
    ) changes
    GROUP BY 1, 2, 3, 4
    HAVING sum(sign) <> 0
    ORDER BY 1, 2, 3, 4
),
team_production_days AS (
    INSERT INTO report_team_cohort_production_days AS d
    SELECT * FROM team_production_day_changes
    ON CONFLICT (team, business_unit, submitted_month, day) DO UPDATE SET
        initiatives = d.initiatives + EXCLUDED.initiatives
),
production_days AS (
    INSERT INTO report_cohort_production_days AS d
    SELECT submitted_month, day, sum(initiatives)::int
    FROM team_production_day_changes
    GROUP BY 1, 2
    HAVING sum(initiatives) <> 0
    ORDER BY 1, 2
    ON CONFLICT (submitted_month, day) DO UPDATE SET initiatives = d.initiatives + EXCLUDED.initiatives
),
new_episodes AS MATERIALIZED (
    SELECT * FROM report_stall_episodes_source WHERE initiative_id = $1
),
episodes AS (
    INSERT INTO report_stall_episodes AS e
    SELECT * FROM new_episodes
    ON CONFLICT (episode_id) DO UPDATE SET
        seconds = EXCLUDED.seconds,
        first_of_reason = EXCLUDED.first_of_reason
    WHERE (e.seconds, e.first_of_reason) IS DISTINCT FROM (EXCLUDED.seconds, EXCLUDED.first_of_reason)
),
-- What this refresh changes in report_stall_episodes, added to the stall counts per month, per team and
-- business unit (migration 0015) and for the whole portfolio (migration 0014).
team_stall_month_changes AS (
    SELECT team, business_unit,
           date_trunc('month', submitted_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS submitted_month,
           date_trunc('month', started_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS started_month,
           family, code, sum(sign)::int AS stalls
    FROM (
        SELECT team, business_unit, submitted_at, started_at, family, code, 1 AS sign FROM new_episodes
        UNION ALL
        SELECT team, business_unit, submitted_at, started_at, family, code, -1 AS sign
        FROM report_stall_episodes WHERE initiative_id = $1
    ) changes
    GROUP BY 1, 2, 3, 4, 5, 6
    HAVING sum(sign) <> 0
    ORDER BY 1, 2, 3, 4, 5, 6
),
team_stall_months AS (
    INSERT INTO report_team_stall_months AS m
    SELECT * FROM team_stall_month_changes
    ON CONFLICT (team, business_unit, submitted_month, started_month, family, code) DO UPDATE SET
        stalls = m.stalls + EXCLUDED.stalls
),
stall_months AS (
    INSERT INTO report_stall_months AS m
    SELECT submitted_month, started_month, family, code, sum(stalls)::int
    FROM team_stall_month_changes
    GROUP BY 1, 2, 3, 4
    HAVING sum(stalls) <> 0
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (submitted_month, started_month, family, code) DO UPDATE SET stalls = m.stalls + EXCLUDED.stalls
),
new_visits AS MATERIALIZED (
    SELECT * FROM report_stage_visits_source WHERE initiative_id = $1
),
visits AS (
    INSERT INTO report_stage_visits AS v
    SELECT * FROM new_visits
    ON CONFLICT (visit_id) DO UPDATE SET
        seconds = EXCLUDED.seconds,
        day = EXCLUDED.day,
        stalls = EXCLUDED.stalls,
        stalled_seconds = EXCLUDED.stalled_seconds
    WHERE (v.seconds, v.stalls, v.stalled_seconds)
        IS DISTINCT FROM (EXCLUDED.seconds, EXCLUDED.stalls, EXCLUDED.stalled_seconds)
),
-- What this refresh changes in report_stage_visits (its rows before minus after; this statement's snapshot
-- still sees the rows before), added to the per-day counts. Rows are locked in key order, so two refreshes
-- of different initiatives never wait for each other in a cycle.
day_changes AS (
    SELECT stage,
           submitted_month,
           coalesce(day, -1) AS day,
           sum(sign)::int AS visits,
           sum(sign * stalls) AS stalls,
           sum(sign * stalled_seconds::numeric) AS stalled_seconds
    FROM (
        SELECT stage, submitted_month, day, stalls, stalled_seconds, 1 AS sign FROM new_visits
        UNION ALL
        SELECT stage, submitted_month, day, stalls, stalled_seconds, -1 AS sign
        FROM report_stage_visits WHERE initiative_id = $1
    ) changes
    GROUP BY stage, submitted_month, coalesce(day, -1)
    HAVING sum(sign) <> 0 OR sum(sign * stalls) <> 0 OR sum(sign * stalled_seconds::numeric) <> 0
    ORDER BY stage, submitted_month, day
),
days AS (
    INSERT INTO report_stage_visit_days AS d
    SELECT * FROM day_changes
    ON CONFLICT (stage, submitted_month, day) DO UPDATE SET
        visits = d.visits + EXCLUDED.visits,
        stalls = d.stalls + EXCLUDED.stalls,
        stalled_seconds = d.stalled_seconds + EXCLUDED.stalled_seconds
)
SELECT 1
