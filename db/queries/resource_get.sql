SELECT ref, provider, environment, status, cost_usd FROM provisioned_resources WHERE ref = $1
