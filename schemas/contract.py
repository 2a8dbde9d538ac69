"""Names that are part of liftoff's public contract, defined once."""

from __future__ import annotations

TASK_QUEUE = "liftoff"
INITIATIVE_WORKFLOW = "InitiativeWorkflow"
ROLLOUT_WORKFLOW = "RolloutWorkflow"

#: Update names (the HTTP action is the same with ``-`` for ``_``).
UPDATE_NAMES: tuple[str, ...] = (
    "approve",
    "reject",
    "request_changes",
    "submit_poc_results",
    "resolve_finding",
    "waive_finding",
    "report_blocker",
    "hold",
    "resume",
    "scrap",
)

#: The update of ``RolloutWorkflow`` by which the change board decides the rollout's change request.
CHANGE_DECISION = "change_decision"

#: Error type a validator raises when it refuses a decision (the API maps it to 409).
DECISION_REFUSED = "DecisionRefused"


def workflow_id_for(initiative_id: str) -> str:
    """The workflow id of an initiative."""
    return f"initiative-{initiative_id}"
