SELECT count(*) FILTER (WHERE seen_at > now() - make_interval(secs => $2)) AS live,
       extract(epoch FROM now() - max(seen_at)) AS seconds_since
FROM worker_heartbeats
WHERE task_queue = $1
