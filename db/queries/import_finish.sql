-- Mark imports finished once none of their lines waits (those of $1, a list of import ids); returns them.
UPDATE imports i
SET finished_at = now()
WHERE i.id = ANY($1::text[])
  AND i.finished_at IS NULL
  AND NOT EXISTS (
      SELECT 1 FROM import_lines l WHERE l.import_id = i.id AND l.outcome IN ('pending', 'starting')
  )
RETURNING i.id
