-- The initiatives in scope that reached the infrastructure review (where the assessment runs), with their
-- submission and what their environments have cost: a backtest re-runs the assessment under another policy.
SELECT i.id, i.title, i.spec, coalesce(c.usd, 0)::float8 AS provisioned_usd, min(si.entered_at) AS assessed_at
FROM initiatives i
JOIN stage_intervals si ON si.initiative_id = i.id AND si.stage = 'infra_review'
LEFT JOIN LATERAL (
    SELECT sum(pr.cost_usd) AS usd FROM provisioned_resources pr WHERE pr.initiative_id = i.id
) c ON true
WHERE ($1::timestamptz IS NULL OR i.submitted_at >= $1)
  AND ($2::timestamptz IS NULL OR i.submitted_at < $2)
  AND ($3::text IS NULL OR i.team = $3)
  AND ($4::text IS NULL OR i.business_unit = $4)
GROUP BY i.id, i.title, i.spec, c.usd
ORDER BY i.id
