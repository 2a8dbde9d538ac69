-- Record a resource made by any provisioner (Kubernetes, a webhook, the built-in one) in provisioned_resources,
-- where sunk cost and compensation find it. The built-in provisioner has written its own row already and a
-- retried activity finds the row there: either way nothing changes.
INSERT INTO provisioned_resources (ref, idempotency_key, initiative_id, provider, environment, status, spec,
                                   cost_usd, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT DO NOTHING
