-- Every person's own delegation setting (one row each).
SELECT delegator, delegate, roles, until, set_at FROM delegations
