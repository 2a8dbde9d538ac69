DELETE FROM worker_heartbeats WHERE worker_id = $1 OR seen_at < now() - interval '1 day'
