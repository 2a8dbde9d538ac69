-- Close a ticket once: a retried close (same or other outcome) changes nothing and adds no comment.
UPDATE tickets
SET status = CASE WHEN closed_at IS NULL THEN $2 ELSE status END,
    comments = CASE WHEN closed_at IS NULL AND $3 <> '' THEN comments || jsonb_build_array($3::text) ELSE comments END,
    closed_at = COALESCE(closed_at, now())
WHERE ref = $1
RETURNING ref, system, status, kind
