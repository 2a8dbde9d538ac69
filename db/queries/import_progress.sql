-- One import and how many of its lines have each outcome.
SELECT i.id, i.created_by, i.created_at, i.lines, i.finished_at,
       count(*) FILTER (WHERE l.outcome IN ('pending', 'starting'))::int AS waiting,
       count(*) FILTER (WHERE l.outcome = 'started')::int AS started,
       count(*) FILTER (WHERE l.outcome = 'existed')::int AS existed,
       count(*) FILTER (WHERE l.outcome = 'invalid')::int AS invalid,
       count(*) FILTER (WHERE l.outcome = 'failed')::int AS failed
FROM imports i
LEFT JOIN import_lines l ON l.import_id = i.id
WHERE i.id = $1
GROUP BY i.id
