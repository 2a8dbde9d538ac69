-- Claim up to $1 due deliveries for $2 seconds (another notifier takes one over only after that), with
-- the status each had: 'sending' means an earlier attempt began and never finished.
WITH due AS (
    SELECT id, status AS was
    FROM notification_deliveries
    WHERE status IN ('pending', 'sending') AND next_attempt_at <= now()
    ORDER BY next_attempt_at, id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE notification_deliveries d
SET status = 'sending', attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => $2)
FROM due
WHERE d.id = due.id
RETURNING d.id, d.notice_id, d.channel, d.recipient, d.on_behalf_of, d.attempts, due.was
