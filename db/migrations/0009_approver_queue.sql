-- What the approver's queue reads (GET /v1/me/queue): when the stage's SLA runs out, who has approved the
-- current visit, whether the awaited roles can decide now, and what the gate waits for from the team.
-- Rows written before this migration get these columns from the next event their workflow records.
ALTER TABLE initiatives
    ADD COLUMN due_at timestamptz,
    ADD COLUMN approved_by text[] NOT NULL DEFAULT '{}',
    ADD COLUMN approvers_can_act boolean NOT NULL DEFAULT false,
    ADD COLUMN team_action text;

-- "Which open initiatives await one of my roles": the array overlap operator (&&) uses a GIN index.
CREATE INDEX initiatives_awaiting_roles_idx ON initiatives USING gin (awaiting_roles);

-- Until their next event, gates with nothing but approvals to wait for (proposed, IT sign-off) show in the
-- queue; PoC and infrastructure review wait for their next event to say whether approvers can act.
UPDATE initiatives
SET approvers_can_act = true
WHERE stage IN ('proposed', 'it_signoff') AND status IN ('active', 'stalled');
