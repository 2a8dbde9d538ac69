-- Indexes for the reports (db/queries/report_*.sql).

-- Stall, escalation and scrap events: the few lifecycle events the reports look up one initiative at a time
-- (the latest stall before an abandonment, the stalls and escalations of a stalled initiative) or scan in
-- full (every scrap). kind leads so each look-up names one kind; the included columns answer the scrap and
-- stalled-now reports from the index alone.
CREATE INDEX lifecycle_events_stall_idx ON lifecycle_events (kind, initiative_id, seq)
    INCLUDE (stage, reason_code, reason_family, occurred_at)
    WHERE kind IN ('stalled', 'stall_cleared', 'scrapped', 'escalated');

-- The funnel counts an initiative that left a stage forward once, even after a send-back and a re-entry:
-- for a re-entry it asks whether an earlier visit of the stage advanced.
CREATE INDEX stage_intervals_advanced_idx ON stage_intervals (initiative_id, stage, visit)
    WHERE outcome = 'advanced';

-- Every report can be scoped to a business unit (team and submission time have their indexes already).
CREATE INDEX initiatives_business_unit_idx ON initiatives (business_unit);
