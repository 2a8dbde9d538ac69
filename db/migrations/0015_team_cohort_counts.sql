-- The cohort counters of migration 0014 once more, per team and business unit, for the cohort report of one
-- team or business unit. Kept apart from the whole portfolio's (which stay small: measured 140 ms for the
-- whole portfolio when one set served both) and read only when a team or business unit is asked for; before
-- them, one team was counted from its rows (p95 ~95 ms at 100k initiatives, bench.reports). Kept by the same
-- refresh (db/queries/refresh_report_rollups.sql), so each always equals the GROUP BY that fills it below.

CREATE TABLE report_team_cohort_counts (
    team             text NOT NULL,
    business_unit    text NOT NULL,
    submitted_month  timestamptz NOT NULL,
    reached          smallint NOT NULL,
    scrapped         smallint NOT NULL,
    open             boolean NOT NULL,
    initiatives      integer NOT NULL,
    PRIMARY KEY (team, business_unit, submitted_month, reached, scrapped, open)
);
CREATE INDEX report_team_cohort_counts_business_unit_idx ON report_team_cohort_counts (business_unit);

CREATE TABLE report_team_cohort_production_days (
    team             text NOT NULL,
    business_unit    text NOT NULL,
    submitted_month  timestamptz NOT NULL,
    day              integer NOT NULL,
    initiatives      integer NOT NULL,
    PRIMARY KEY (team, business_unit, submitted_month, day)
);
CREATE INDEX report_team_cohort_production_days_business_unit_idx
    ON report_team_cohort_production_days (business_unit);

CREATE TABLE report_team_stall_months (
    team             text NOT NULL,
    business_unit    text NOT NULL,
    submitted_month  timestamptz NOT NULL,
    started_month    timestamptz NOT NULL,
    family           text,
    code             text,
    stalls           integer NOT NULL,
    UNIQUE NULLS NOT DISTINCT (team, business_unit, submitted_month, started_month, family, code)
);
CREATE INDEX report_team_stall_months_business_unit_idx ON report_team_stall_months (business_unit);

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
