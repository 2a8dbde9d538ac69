-- Rollups for the reports: small tables, one row per initiative, per stall and per stage visit, that the
-- reports read instead of the event log. Measured with `python -m bench.reports` (100k initiatives, ~1.1M
-- events): the whole-portfolio reports could not get under 50 ms reading stage_intervals and lifecycle_events
-- however they were indexed, because they had to pair, dedupe and convert hundreds of thousands of rows per call.
--
-- Each rollup row is a pure function of its initiative's rows in initiatives, stage_intervals, lifecycle_events
-- and provisioned_resources, written down once as a view (*_source). The writers (db/rollups_repo.py) recompute
-- the rows of one initiative from those views in the transaction that changed its sources, so a rollup can
-- never drift from the log, a retried write recomputes the same rows, and a rebuild is one INSERT ... SELECT.

-- Per initiative: the scope columns every report filters on, which stages it reached, left forward or was
-- scrapped in (bit n = stage n of proposed, poc, infra_review, it_signoff, rollout, production), how it was
-- scrapped, and what it cost.
CREATE VIEW report_initiative_facts_source AS
SELECT i.id AS initiative_id,
       i.team,
       i.business_unit,
       i.submitted_at,
       i.procurement,
       i.deployment_target,
       i.stage,
       coalesce(v.reached, 0)::smallint AS reached,
       coalesce(v.advanced, 0)::smallint AS advanced,
       coalesce(v.scrapped, 0)::smallint AS scrapped,
       s.stage AS scrap_stage,
       s.reason_family AS scrap_family,
       s.reason_code AS scrap_code,
       u.reason_code AS scrap_underlying_code,
       i.poc_spend_usd,
       coalesce(p.usd, 0) AS provisioning_usd
FROM initiatives i
LEFT JOIN LATERAL (
    SELECT bit_or(b.bit) AS reached,
           bit_or(b.bit) FILTER (WHERE si.outcome = 'advanced') AS advanced,
           bit_or(b.bit) FILTER (WHERE si.outcome = 'scrapped') AS scrapped
    FROM stage_intervals si
    CROSS JOIN LATERAL (
        SELECT (1 << (array_position(
            ARRAY['proposed', 'poc', 'infra_review', 'it_signoff', 'rollout', 'production'], si.stage) - 1))::int AS bit
    ) b
    WHERE si.initiative_id = i.id AND si.stage <> 'scrapped'
) v ON true
-- an initiative is scrapped once; the latest scrapped event is the one that counts
LEFT JOIN LATERAL (
    SELECT e.seq, e.stage, e.reason_family, e.reason_code
    FROM lifecycle_events e
    WHERE e.initiative_id = i.id AND e.kind = 'scrapped'
    ORDER BY e.seq DESC
    LIMIT 1
) s ON true
-- ABANDONED says only that a stall lasted too long: the reason of the last stall before it says why
LEFT JOIN LATERAL (
    SELECT st.reason_code
    FROM lifecycle_events st
    WHERE s.reason_code = 'ABANDONED'
      AND st.initiative_id = i.id
      AND st.kind = 'stalled'
      AND st.seq < s.seq
    ORDER BY st.seq DESC
    LIMIT 1
) u ON true
LEFT JOIN LATERAL (
    SELECT sum(pr.cost_usd) AS usd
    FROM provisioned_resources pr
    WHERE pr.initiative_id = i.id
) p ON true;

CREATE TABLE report_initiative_facts (
    initiative_id          text PRIMARY KEY REFERENCES initiatives (id),
    team                   text NOT NULL,
    business_unit          text NOT NULL,
    submitted_at           timestamptz NOT NULL,
    procurement            text NOT NULL,
    deployment_target      text NOT NULL,
    stage                  text NOT NULL,
    reached                smallint NOT NULL,
    advanced               smallint NOT NULL,
    scrapped               smallint NOT NULL,
    scrap_stage            text,
    scrap_family           text,
    scrap_code             text,
    scrap_underlying_code  text,
    poc_spend_usd          numeric NOT NULL,
    provisioning_usd       numeric NOT NULL
);

-- The whole portfolio's facts counted per combination of the columns the reports group by (a few hundred rows
-- for 100k initiatives), with the summed spend. Kept by adding what a refresh changes in
-- report_initiative_facts (db/queries/refresh_report_rollups.sql): it always equals the GROUP BY that fills it
-- below, and the reports of the whole portfolio read it instead of every initiative.
CREATE TABLE report_portfolio_facts (
    reached                smallint NOT NULL,
    advanced               smallint NOT NULL,
    scrapped               smallint NOT NULL,
    stage                  text NOT NULL,
    procurement            text NOT NULL,
    deployment_target      text NOT NULL,
    scrap_stage            text,
    scrap_family           text,
    scrap_code             text,
    scrap_underlying_code  text,
    initiatives            integer NOT NULL,
    poc_spend_usd          numeric NOT NULL,
    provisioning_usd       numeric NOT NULL,
    UNIQUE NULLS NOT DISTINCT (reached, advanced, scrapped, stage, procurement, deployment_target, scrap_stage,
                               scrap_family, scrap_code, scrap_underlying_code)
);

CREATE INDEX report_initiative_facts_team_idx ON report_initiative_facts (team);
CREATE INDEX report_initiative_facts_business_unit_idx ON report_initiative_facts (business_unit);
CREATE INDEX report_initiative_facts_submitted_idx ON report_initiative_facts (submitted_at);

-- Per stall: each stalled event paired with the next stall-related event of its initiative and stage (by seq).
-- A stall_cleared or scrapped event carries the stall's duration in data.stalled_seconds; another stall
-- beginning first leaves no duration to attribute (0); nothing after it means the stall is still open (NULL:
-- the report counts it up to now()). first_of_reason marks one stall per initiative and (family, code, stage),
-- so a report counts the initiatives affected without count(DISTINCT).
CREATE VIEW report_stall_episodes_source AS
SELECT m.event_id AS episode_id,
       m.initiative_id,
       i.team,
       i.business_unit,
       i.submitted_at,
       m.stage,
       m.reason_family AS family,
       m.reason_code AS code,
       m.occurred_at AS started_at,
       CASE
           WHEN m.next_kind IS NULL THEN NULL
           WHEN m.next_kind IN ('stall_cleared', 'scrapped') THEN coalesce((m.next_data ->> 'stalled_seconds')::float8, 0)
           ELSE 0
       END AS seconds,
       row_number() OVER (PARTITION BY m.initiative_id, m.reason_family, m.reason_code, m.stage ORDER BY m.seq) = 1
           AS first_of_reason
FROM (
    SELECT e.event_id, e.initiative_id, e.seq, e.kind, e.stage, e.reason_family, e.reason_code, e.occurred_at,
           lead(e.kind) OVER w AS next_kind,
           lead(e.data) OVER w AS next_data
    FROM lifecycle_events e
    WHERE e.kind IN ('stalled', 'stall_cleared', 'scrapped')
    WINDOW w AS (PARTITION BY e.initiative_id, e.stage ORDER BY e.seq)
) m
JOIN initiatives i ON i.id = m.initiative_id
WHERE m.kind = 'stalled';

CREATE TABLE report_stall_episodes (
    episode_id       text PRIMARY KEY REFERENCES lifecycle_events (event_id),
    initiative_id    text NOT NULL REFERENCES initiatives (id),
    team             text NOT NULL,
    business_unit    text NOT NULL,
    submitted_at     timestamptz NOT NULL,
    stage            text NOT NULL,
    family           text,
    code             text,
    started_at       timestamptz NOT NULL,
    seconds          double precision,
    first_of_reason  boolean NOT NULL
);

CREATE INDEX report_stall_episodes_initiative_idx ON report_stall_episodes (initiative_id);
-- the whole portfolio's stalls already grouped by reason: the Pareto reads them without sorting
CREATE INDEX report_stall_episodes_reason_idx ON report_stall_episodes (family, code, stage)
    INCLUDE (first_of_reason, seconds, started_at);
CREATE INDEX report_stall_episodes_team_idx ON report_stall_episodes (team);
CREATE INDEX report_stall_episodes_business_unit_idx ON report_stall_episodes (business_unit);

-- Per visit of a non-terminal stage: how long it lasted in seconds (NULL while open; seconds, not an interval,
-- because percentiles sort a float8 several times faster) and in whole days, and its stall totals, with the
-- scope columns and the month (UTC) the initiative was submitted in.
CREATE VIEW report_stage_visits_source AS
SELECT si.id AS visit_id,
       si.initiative_id,
       i.team,
       i.business_unit,
       i.submitted_at,
       date_trunc('month', i.submitted_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS submitted_month,
       si.stage,
       d.seconds,
       -- NULL while open; a visit recorded as ending before it began (rows loaded around liftoff) is in day 0
       CASE WHEN d.seconds IS NOT NULL THEN greatest(floor(d.seconds / 86400), 0)::int END AS day,
       si.stalls,
       si.stalled_seconds
FROM stage_intervals si
JOIN initiatives i ON i.id = si.initiative_id
CROSS JOIN LATERAL (SELECT extract(epoch FROM si.left_at - si.entered_at)::float8 AS seconds) d
WHERE si.stage NOT IN ('production', 'scrapped');

CREATE TABLE report_stage_visits (
    visit_id         text PRIMARY KEY REFERENCES stage_intervals (id),
    initiative_id    text NOT NULL REFERENCES initiatives (id),
    team             text NOT NULL,
    business_unit    text NOT NULL,
    submitted_at     timestamptz NOT NULL,
    submitted_month  timestamptz NOT NULL,
    stage            text NOT NULL,
    seconds          double precision,
    day              integer,
    stalls           integer NOT NULL,
    stalled_seconds  double precision NOT NULL
);

CREATE INDEX report_stage_visits_initiative_idx ON report_stage_visits (initiative_id);
-- the visits of a stage in order of duration (day follows seconds): percentiles over a scope read them
-- presorted, and a percentile over a window of submission time finds its visit from a day's first one; the
-- scope columns are included so neither reads the table
CREATE INDEX report_stage_visits_stage_idx ON report_stage_visits (stage, day, seconds)
    INCLUDE (stalls, stalled_seconds, submitted_at, team, business_unit);
-- the visits of initiatives submitted in the partial months at the ends of a window
CREATE INDEX report_stage_visits_submitted_idx ON report_stage_visits (submitted_at)
    INCLUDE (stage, day, stalls, stalled_seconds);
-- one team's or one business unit's visits, in the same order and with the same columns
CREATE INDEX report_stage_visits_team_idx ON report_stage_visits (team, stage, day, seconds)
    INCLUDE (stalls, stalled_seconds, submitted_at, business_unit);
CREATE INDEX report_stage_visits_business_unit_idx ON report_stage_visits (business_unit, stage, day, seconds)
    INCLUDE (stalls, stalled_seconds, submitted_at, team);

-- The visits counted per stage, month of submission and day of duration (day -1: still open), with their stall
-- totals: enough to find any percentile's visit for the whole portfolio or a window of submission time
-- without reading every visit. Kept by adding what a refresh changes in report_stage_visits
-- (db/queries/refresh_report_rollups.sql), so it always equals the GROUP BY below over report_stage_visits.
CREATE TABLE report_stage_visit_days (
    stage            text NOT NULL,
    submitted_month  timestamptz NOT NULL,
    day              integer NOT NULL,
    visits           integer NOT NULL,
    stalls           bigint NOT NULL,
    stalled_seconds  numeric NOT NULL,
    PRIMARY KEY (stage, submitted_month, day)
);

-- What is already recorded.
INSERT INTO report_initiative_facts SELECT * FROM report_initiative_facts_source;
INSERT INTO report_stall_episodes SELECT * FROM report_stall_episodes_source;
INSERT INTO report_stage_visits SELECT * FROM report_stage_visits_source;
INSERT INTO report_stage_visit_days
SELECT stage, submitted_month, coalesce(day, -1), count(*), sum(stalls), sum(stalled_seconds::numeric)
FROM report_stage_visits
GROUP BY stage, submitted_month, coalesce(day, -1);
INSERT INTO report_portfolio_facts
SELECT reached, advanced, scrapped, stage, procurement, deployment_target, scrap_stage, scrap_family, scrap_code,
       scrap_underlying_code, count(*), sum(poc_spend_usd), sum(provisioning_usd)
FROM report_initiative_facts
GROUP BY reached, advanced, scrapped, stage, procurement, deployment_target, scrap_stage, scrap_family, scrap_code,
         scrap_underlying_code;
