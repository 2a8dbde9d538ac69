-- The outcome of an attempt: sent, skipped, failed, unknown, or pending again at $4 (a retry).
UPDATE notification_deliveries
SET status = $2,
    last_error = $3,
    next_attempt_at = coalesce($4, next_attempt_at),
    sent_at = CASE WHEN $2 = 'sent' THEN now() ELSE sent_at END
WHERE id = $1
