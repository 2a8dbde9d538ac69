-- Imports of existing initiatives (POST /v1/imports): one row per import, one per line of its file. Lines are
-- checked when the file arrives; the valid ones wait as 'pending' until the API's import runner starts their
-- workflows (claimed with SKIP LOCKED, so several API processes share the work and a crashed one's claims
-- are taken up again). A line's outcome: started (a new initiative), existed (imported before: nothing new),
-- invalid (with the reason, never started) or failed (Temporal refused it, with the reason).
CREATE TABLE imports (
    id           text PRIMARY KEY,
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    lines        integer NOT NULL,
    finished_at  timestamptz
);

CREATE TABLE import_lines (
    import_id      text NOT NULL REFERENCES imports (id),
    line           integer NOT NULL,
    initiative_id  text,
    outcome        text NOT NULL CHECK (outcome IN ('pending', 'starting', 'started', 'existed', 'invalid', 'failed')),
    error          text,
    body           jsonb,
    attempts       integer NOT NULL DEFAULT 0,
    claimed_at     timestamptz,
    -- when a started initiative got the default task priority back, once its import had finished
    restored_at    timestamptz,
    PRIMARY KEY (import_id, line)
);
-- the runner's claim: pending lines (and stale claims) in file order
CREATE INDEX import_lines_waiting_idx ON import_lines (import_id, line) WHERE outcome IN ('pending', 'starting');
