SELECT EXISTS (
    SELECT 1 FROM worker_heartbeats
    WHERE hostname = $1 AND task_queue = $2 AND seen_at > now() - make_interval(secs => $3)
)
