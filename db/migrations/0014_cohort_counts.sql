-- Counters for the cohort report (GET /v1/reports/cohorts), so that the whole portfolio and windows of
-- submission time answer from a few thousand rows instead of every initiative and stall. Measured with
-- `python -m bench.reports --only cohorts` at 100k initiatives: read row by row, p95 316 ms for the whole
-- portfolio; with counters also keyed by team (60 teams) still 140 ms, so they are not: a team or business
-- unit is counted from its own rows. Each is kept by adding what a refresh changes
-- (db/queries/refresh_report_rollups.sql), so it always equals the GROUP BY that fills it below.

-- Initiatives per month of submission (UTC), by the stages they reached and were scrapped in (the facts'
-- bits) and whether still open.
CREATE TABLE report_cohort_counts (
    submitted_month  timestamptz NOT NULL,
    reached          smallint NOT NULL,
    scrapped         smallint NOT NULL,
    open             boolean NOT NULL,
    initiatives      integer NOT NULL,
    PRIMARY KEY (submitted_month, reached, scrapped, open)
);

-- Initiatives in production per month of submission and whole days from submission to production.
CREATE TABLE report_cohort_production_days (
    submitted_month  timestamptz NOT NULL,
    day              integer NOT NULL,
    initiatives      integer NOT NULL,
    PRIMARY KEY (submitted_month, day)
);

-- Stalls per month of submission, month the stall began (UTC) and reason.
CREATE TABLE report_stall_months (
    submitted_month  timestamptz NOT NULL,
    started_month    timestamptz NOT NULL,
    family           text,
    code             text,
    stalls           integer NOT NULL,
    UNIQUE NULLS NOT DISTINCT (submitted_month, started_month, family, code)
);

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

-- The partial months at a window's ends are counted from the rows themselves.
CREATE INDEX report_stall_episodes_submitted_idx ON report_stall_episodes (submitted_at);
