UPDATE tickets
SET status = $2,
    closed_at = COALESCE(closed_at, now()),
    comments = CASE WHEN $3 = '' THEN comments ELSE comments || jsonb_build_array($3::text) END
WHERE ref = $1
RETURNING ref, system, status, kind
