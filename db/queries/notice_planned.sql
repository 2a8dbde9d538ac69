-- A notice whose deliveries are planned.
UPDATE notices SET planned_at = now() WHERE id = $1
