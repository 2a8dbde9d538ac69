-- Extend a live resource's expiry; a deprovisioned one stays as it is.
UPDATE provisioned_resources
SET expires_at = CASE WHEN status = 'deprovisioned' THEN expires_at ELSE $2 END
WHERE ref = $1
RETURNING ref, provider, environment, status, cost_usd
