-- Notices nobody planned within $1 seconds (no channel was configured then): never sent, marked planned.
UPDATE notices SET planned_at = now()
WHERE planned_at IS NULL AND created_at < now() - make_interval(secs => $1)
