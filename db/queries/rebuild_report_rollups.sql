-- Rebuild every report rollup from its source view (migration 0005): after rows were loaded around the
-- repositories, e.g. by COPY in bench/reports_data.py. Several statements: run without parameters.
TRUNCATE report_initiative_facts, report_portfolio_facts, report_stall_episodes, report_stage_visits,
    report_stage_visit_days, report_cohort_counts, report_cohort_production_days, report_stall_months,
    report_team_cohort_counts, report_team_cohort_production_days, report_team_stall_months;
INSERT INTO report_initiative_facts SELECT * FROM report_initiative_facts_source;
INSERT INTO report_portfolio_facts
SELECT reached, advanced, scrapped, stage, procurement, deployment_target, scrap_stage, scrap_family, scrap_code,
       scrap_underlying_code, count(*), sum(poc_spend_usd), sum(provisioning_usd)
FROM report_initiative_facts
GROUP BY reached, advanced, scrapped, stage, procurement, deployment_target, scrap_stage, scrap_family, scrap_code,
         scrap_underlying_code;
INSERT INTO report_stall_episodes SELECT * FROM report_stall_episodes_source;
INSERT INTO report_stage_visits SELECT * FROM report_stage_visits_source;
INSERT INTO report_stage_visit_days
SELECT stage, submitted_month, coalesce(day, -1), count(*), sum(stalls), sum(stalled_seconds::numeric)
FROM report_stage_visits
GROUP BY stage, submitted_month, coalesce(day, -1);
INSERT INTO report_cohort_counts
SELECT date_trunc('month', submitted_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', reached, scrapped,
       stage NOT IN ('production', 'scrapped'), count(*)
FROM report_initiative_facts
GROUP BY 1, 2, 3, 4;
INSERT INTO report_cohort_production_days
SELECT date_trunc('month', submitted_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
       floor(extract(epoch FROM production_at - submitted_at) / 86400)::int, count(*)
FROM report_initiative_facts
WHERE production_at IS NOT NULL
GROUP BY 1, 2;
INSERT INTO report_stall_months
SELECT date_trunc('month', submitted_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
       date_trunc('month', started_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', family, code, count(*)
FROM report_stall_episodes
GROUP BY 1, 2, 3, 4;

INSERT INTO report_team_cohort_counts
SELECT team, business_unit, date_trunc('month', submitted_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', reached,
       scrapped, stage NOT IN ('production', 'scrapped'), count(*)
FROM report_initiative_facts
GROUP BY 1, 2, 3, 4, 5, 6;

INSERT INTO report_team_cohort_production_days
SELECT team, business_unit, date_trunc('month', submitted_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
       floor(extract(epoch FROM production_at - submitted_at) / 86400)::int, count(*)
FROM report_initiative_facts
WHERE production_at IS NOT NULL
GROUP BY 1, 2, 3, 4;

INSERT INTO report_team_stall_months
SELECT team, business_unit, date_trunc('month', submitted_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
       date_trunc('month', started_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', family, code, count(*)
FROM report_stall_episodes
GROUP BY 1, 2, 3, 4, 5, 6;
