-- Cohorts (GET /v1/reports/cohorts): each initiative's facts also say when it first reached production, so a
-- submission cohort's median time to production is read from report_initiative_facts like every other count.
-- The view is migration 0005's with the column added at the end (the writers copy it with SELECT *).
ALTER TABLE report_initiative_facts ADD COLUMN production_at timestamptz;

CREATE OR REPLACE VIEW report_initiative_facts_source AS
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
       coalesce(p.usd, 0) AS provisioning_usd,
       pa.production_at
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
) p ON true
-- when it first reached production (a cohort's time to production)
LEFT JOIN LATERAL (
    SELECT min(si.entered_at) AS production_at
    FROM stage_intervals si
    WHERE si.initiative_id = i.id AND si.stage = 'production'
) pa ON true;

UPDATE report_initiative_facts f
SET production_at = p.at
FROM (
    SELECT initiative_id, min(entered_at) AS at FROM stage_intervals WHERE stage = 'production' GROUP BY initiative_id
) p
WHERE p.initiative_id = f.initiative_id;

-- Cohorts by submission month or quarter, and the stall reasons per month the stalls began.
CREATE INDEX report_stall_episodes_started_idx ON report_stall_episodes (started_at);
