-- Covering indexes for the reports at portfolio scale (measured with `python -m bench.reports`: 100k
-- initiatives, ~1.1M lifecycle events). Indexes only: no report's results change. Every index carries the
-- columns its report reads, so the reads are index-only scans of a narrow index instead of heap reads of
-- wide rows. IF NOT EXISTS keeps a re-run harmless.

-- Stall Pareto: the stalled / stall_cleared / scrapped events of an initiative in (stage, seq) order, which
-- is the report's window (PARTITION BY initiative_id, stage ORDER BY seq): the whole portfolio is read in
-- window order without sorting ~190k events, and one team's initiatives are looked up without heap reads.
CREATE INDEX IF NOT EXISTS lifecycle_events_stall_marks_idx
    ON lifecycle_events (initiative_id, stage, seq)
    INCLUDE (kind, reason_family, reason_code, occurred_at, data)
    WHERE kind IN ('stalled', 'stall_cleared', 'scrapped');

-- Funnel and time in stage over the whole portfolio: every visit of a stage in stage order (no sort before
-- the per-stage aggregates), with the columns both reports read.
CREATE INDEX IF NOT EXISTS stage_intervals_stage_cover_idx
    ON stage_intervals (stage)
    INCLUDE (visit, outcome, initiative_id, entered_at, left_at, stalls, stalled_seconds);

-- Funnel and time in stage for one team, business unit or period: the visits of each initiative in scope,
-- looked up by initiative without reading the table.
CREATE INDEX IF NOT EXISTS stage_intervals_initiative_cover_idx
    ON stage_intervals (initiative_id)
    INCLUDE (stage, visit, outcome, entered_at, left_at, stalls, stalled_seconds);

-- The scope of every report (one team's initiative ids, with business unit and submission time to check
-- the other filters) and what alignment and sunk cost read from initiatives, without the wide rows (spec).
CREATE INDEX IF NOT EXISTS initiatives_team_cover_idx
    ON initiatives (team, id)
    INCLUDE (business_unit, submitted_at, procurement, deployment_target, stage, poc_spend_usd);
