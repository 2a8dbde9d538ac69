"""Patch ids (``workflow.patched``): each names a change to the commands of running workflows.

A workflow started before a patch replays without it; one started after records a marker and keeps
the new behaviour. Never rename or remove an id while a workflow that recorded it may still run.
"""

from __future__ import annotations

from temporalio import workflow

#: SLA clocks, escalation, abandonment, sandbox renewal and continue-as-new (``InitiativeWorkflow``).
SLA_TIMERS = "sla-timers"
#: The promote step of the rollout saga (``RolloutWorkflow``).
ROLLOUT_PROMOTE = "rollout-promote"
#: The worker applies a workflow task's jobs in one fixed order: each activity, timer or child result
#: on its own, then the updates (``worker/activation_order.py``). Recorded at the start of every run.
ACTIVATION_ORDER = "activation-order"
#: The initiative records who decided the rollout's change request (``change_decided`` event).
CHANGE_DECIDED_EVENT = "change-decided-event"
#: Polling decides a change ticket with ``schemas.change_states`` (the webhooks' vocabulary): "in progress"
#: no longer counts as approved (``RolloutWorkflow``).
CHANGE_VOCABULARY = "change-vocabulary"
#: Cheaper history (``InitiativeWorkflow``): events recorded once per pass by a local activity (a regular one
#: if the database does not answer), search attributes upserted only when they change, one alarm instead of a
#: timer per wait, ``rollout_started`` recorded with the decision, the proposed stage counted from submission.
LEAN_HISTORY = "lean-history"
#: The approver's desk (``InitiativeWorkflow``): notices recorded with the events (who must be told what), and
#: reminder deadlines at the policy's fractions of each stage's SLA (``reminded`` events).
NOTIFICATIONS = "notifications"
#: Stands for every patch above. A run started since it records this one marker and takes the new behaviour
#: of all of them without recording theirs: each marker costs two history events (the marker and the SDK's
#: ``TemporalChangeVersion`` search-attribute upsert, which the server indexes), and an initiative recorded
#: four, its rollout two. Runs that recorded the patches one by one replay as before. A patch added later is
#: not covered: it is asked for on its own (``Patches.patched``).
BASELINE_2026_12 = "baseline-2026-12"
BASELINE_COVERS = frozenset(
    {
        SLA_TIMERS,
        ROLLOUT_PROMOTE,
        ACTIVATION_ORDER,
        CHANGE_DECIDED_EVENT,
        CHANGE_VOCABULARY,
        LEAN_HISTORY,
        NOTIFICATIONS,
    }
)
#: Patches whose marker tells the worker to apply a run's jobs in the fixed order (``worker/activation_order.py``).
ORDERED_BY = frozenset({ACTIVATION_ORDER, BASELINE_2026_12})


class Patches:
    """The patches one run takes. Create it first thing in the workflow's ``__init__``.

    A new run records ``BASELINE_2026_12`` there; a run recorded before it finds no such marker in its history
    and asks for each patch as it always did.
    """

    __slots__ = ("baseline",)

    def __init__(self) -> None:
        self.baseline = workflow.patched(BASELINE_2026_12)

    def patched(self, patch_id: str) -> bool:
        """``workflow.patched(patch_id)``, true without a marker of its own when the baseline covers it."""
        if self.baseline and patch_id in BASELINE_COVERS:
            return True
        return workflow.patched(patch_id)
