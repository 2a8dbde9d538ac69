-- What one initiative's environments have cost so far (each provisioner's reported cost_usd, summed).
SELECT coalesce(sum(cost_usd), 0)::float8 FROM provisioned_resources WHERE initiative_id = $1
