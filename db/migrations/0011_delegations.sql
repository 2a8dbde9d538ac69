-- Delegations people set for themselves (PUT /v1/me/delegate): while one lasts, the delegate may decide in
-- the delegator's approver roles on their behalf, and the delegator's notices go to the delegate. A row here
-- overrides the principals file's `delegate:` for the same person; `delegate` NULL means "none" (ended early).
CREATE TABLE delegations (
    delegator  text PRIMARY KEY,
    delegate   text,
    roles      text[] NOT NULL DEFAULT '{}',   -- the delegator's approver roles when it was set
    until      timestamptz,
    set_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX delegations_delegate_idx ON delegations (delegate) WHERE delegate IS NOT NULL;

-- Every change, kept: who handed their decisions to whom, for which roles, until when.
CREATE TABLE delegation_changes (
    id         bigserial PRIMARY KEY,
    delegator  text NOT NULL,
    delegate   text,
    roles      text[] NOT NULL DEFAULT '{}',
    until      timestamptz,
    set_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX delegation_changes_delegator_idx ON delegation_changes (delegator, set_at);
