-- Initiatives in scope whose workflow was terminated, cancelled or reset outside liftoff.
-- Scope: $1 since, $2 until (submitted_at in [since, until)), $3 team, $4 business_unit; NULL = no filter.
SELECT count(DISTINCT e.initiative_id)::int AS tampered
FROM lifecycle_events e
JOIN initiatives i ON i.id = e.initiative_id
WHERE e.kind = 'tampered'
  AND ($1::timestamptz IS NULL OR i.submitted_at >= $1)
  AND ($2::timestamptz IS NULL OR i.submitted_at < $2)
  AND ($3::text IS NULL OR i.team = $3)
  AND ($4::text IS NULL OR i.business_unit = $4)
