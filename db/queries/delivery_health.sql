-- Per channel, over the last day: deliveries waiting, given up, of unknown outcome; the last success and the last error.
SELECT channel,
       count(*) FILTER (WHERE status IN ('pending', 'sending'))::int AS waiting,
       count(*) FILTER (WHERE status = 'failed')::int AS failed,
       count(*) FILTER (WHERE status = 'unknown')::int AS unknown,
       max(sent_at) AS last_sent_at,
       (array_agg(last_error ORDER BY next_attempt_at DESC) FILTER (WHERE last_error IS NOT NULL
            AND status IN ('pending', 'sending', 'failed')))[1] AS last_error
FROM notification_deliveries
WHERE created_at > now() - interval '1 day'
GROUP BY channel
ORDER BY channel
