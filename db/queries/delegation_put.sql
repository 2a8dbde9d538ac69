-- Set (or, with a NULL delegate, end) one person's delegation, and keep the change.
-- $1 delegator, $2 delegate (NULL: none), $3 roles, $4 until (NULL with no delegate).
WITH kept AS (
    INSERT INTO delegation_changes (delegator, delegate, roles, until) VALUES ($1, $2, $3, $4)
)
INSERT INTO delegations (delegator, delegate, roles, until, set_at)
VALUES ($1, $2, $3, $4, now())
ON CONFLICT (delegator) DO UPDATE SET
    delegate = EXCLUDED.delegate,
    roles = EXCLUDED.roles,
    until = EXCLUDED.until,
    set_at = EXCLUDED.set_at
RETURNING delegator, delegate, roles, until, set_at
