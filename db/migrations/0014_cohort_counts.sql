-- Counters for the cohort report (GET /v1/reports/cohorts), so that it answers from a few thousand rows instead
-- of every initiative and stall. Measured with `python -m bench.reports --only cohorts` at 100k initiatives:
-- read row by row it took p95 316 ms for the whole portfolio. Both are kept by adding what a refresh changes
-- (db/queries/refresh_report_rollups.sql), so they always equal the GROUP BYs that fill them below.

-- Initiatives per month of submission (UTC), team and business unit, by the stages they reached and were
-- scrapped in (the facts' bits), whether still open, and the whole days from submission to production (-1: not
-- in production).
CREATE TABLE report_cohort_counts (
    submitted_month  timestamptz NOT NULL,
    team             text NOT NULL,
    business_unit    text NOT NULL,
    reached          smallint NOT NULL,
    scrapped         smallint NOT NULL,
    open             boolean NOT NULL,
    production_day   integer NOT NULL,
    initiatives      integer NOT NULL,
    PRIMARY KEY (submitted_month, team, business_unit, reached, scrapped, open, production_day)
);

-- Stalls per month of submission and month the stall began (UTC), team, business unit and reason.
CREATE TABLE report_stall_months (
    submitted_month  timestamptz NOT NULL,
    started_month    timestamptz NOT NULL,
    team             text NOT NULL,
    business_unit    text NOT NULL,
    family           text,
    code             text,
    stalls           integer NOT NULL,
    UNIQUE NULLS NOT DISTINCT (submitted_month, started_month, team, business_unit, family, code)
);

INSERT INTO report_cohort_counts
SELECT date_trunc('month', submitted_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', team, business_unit, reached,
       scrapped, stage NOT IN ('production', 'scrapped'),
       coalesce(floor(extract(epoch FROM production_at - submitted_at) / 86400)::int, -1), count(*)
FROM report_initiative_facts
GROUP BY 1, 2, 3, 4, 5, 6, 7;

INSERT INTO report_stall_months
SELECT date_trunc('month', submitted_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
       date_trunc('month', started_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', team, business_unit, family, code,
       count(*)
FROM report_stall_episodes
GROUP BY 1, 2, 3, 4, 5, 6;

-- The partial months at a window's ends are counted from the rows themselves.
CREATE INDEX report_stall_episodes_submitted_idx ON report_stall_episodes (submitted_at);
