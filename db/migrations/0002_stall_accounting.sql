-- Stall accounting per stage visit, maintained from the stalled / stall_cleared / scrapped events, so
-- reports can sum stalled time and count stalls without replaying the event log.
ALTER TABLE stage_intervals
    ADD COLUMN stalls integer NOT NULL DEFAULT 0,
    ADD COLUMN stalled_seconds double precision NOT NULL DEFAULT 0,
    ADD COLUMN last_stall_reason text;

CREATE INDEX lifecycle_events_reason_idx ON lifecycle_events (reason_code, kind) WHERE reason_code IS NOT NULL;
