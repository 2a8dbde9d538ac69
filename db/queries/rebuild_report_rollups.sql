-- Rebuild every report rollup from its source view (migration 0005): after rows were loaded around the
-- repositories, e.g. by COPY in bench/reports_data.py. Several statements: run without parameters.
TRUNCATE report_initiative_facts, report_portfolio_facts, report_stall_episodes, report_stage_visits,
    report_stage_visit_days;
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
