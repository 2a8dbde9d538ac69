"""Patch ids (``workflow.patched``): each names a change to the commands of running workflows.

A workflow started before a patch replays without it; one started after records a marker and keeps
the new behaviour. Never rename or remove an id while a workflow that recorded it may still run.
"""

from __future__ import annotations

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
