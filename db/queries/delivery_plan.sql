-- One delivery of a notice; planning the same notice again plans nothing new.
INSERT INTO notification_deliveries (id, notice_id, channel, recipient, on_behalf_of, next_attempt_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (id) DO NOTHING
