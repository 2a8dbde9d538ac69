-- Claim up to $1 lines waiting to be started, in file order: pending ones, and claims older than $2 seconds
-- (their process stopped; starting again is harmless, a workflow id is started once).
UPDATE import_lines l
SET outcome = 'starting', claimed_at = now(), attempts = l.attempts + 1
FROM (
    SELECT import_id, line
    FROM import_lines
    WHERE outcome = 'pending'
       OR (outcome = 'starting' AND claimed_at < now() - make_interval(secs => $2))
    ORDER BY import_id, line
    LIMIT $1
    FOR UPDATE SKIP LOCKED
) c
WHERE l.import_id = c.import_id AND l.line = c.line
RETURNING l.import_id, l.line, l.initiative_id, l.body, l.attempts
