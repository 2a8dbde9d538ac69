-- Live workers: each worker process refreshes its row every few seconds; readiness (/readyz) needs a
-- recent one for its task queue. Temporal's own poller list remembers a dead worker for minutes.
CREATE TABLE worker_heartbeats (
    worker_id   text PRIMARY KEY,
    task_queue  text NOT NULL,
    hostname    text NOT NULL,
    pid         integer NOT NULL,
    started_at  timestamptz NOT NULL,
    seen_at     timestamptz NOT NULL
);

CREATE INDEX worker_heartbeats_queue_seen ON worker_heartbeats (task_queue, seen_at DESC);
