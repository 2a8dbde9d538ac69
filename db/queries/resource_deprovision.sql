UPDATE provisioned_resources
SET status = 'deprovisioned', deprovisioned_at = COALESCE(deprovisioned_at, now())
WHERE ref = $1
RETURNING ref, provider, environment, status, cost_usd
