"""liftoff's own metrics from workflow code, through the SDK's workflow metric meter.

The workflow meter records nothing while a workflow replays, so a worker that rebuilds an initiative
from its history (after a restart, or a cache eviction) does not count its decisions again.
Exported with the SDK's metrics wherever the worker's runtime sends them (``LIFTOFF_METRICS_ADDRESS``).
"""

from __future__ import annotations

from temporalio import workflow

from schemas.events import EventKind

#: Events that record a person's (or the change ticket's) decision, by the update that makes them.
DECISION_EVENTS = frozenset(
    {
        EventKind.APPROVED,
        EventKind.REJECTED,
        EventKind.POC_RESULTS_SUBMITTED,
        EventKind.CHANGES_REQUESTED,
        EventKind.FINDING_RESOLVED,
        EventKind.FINDING_WAIVED,
        EventKind.BLOCKER_REPORTED,
        EventKind.HELD,
        EventKind.RESUMED,
        EventKind.CHANGE_DECIDED,
    }
)


def _count(name: str, description: str, labels: dict[str, str]) -> None:
    workflow.metric_meter().create_counter(name, description).add(1, labels)


def _update_name() -> str | None:
    info = workflow.current_update_info()
    return info.name if info is not None else None


def count_event(kind: EventKind, stage: str, role: str | None, reason: str | None) -> None:
    """Count a lifecycle event in the metric its kind belongs to."""
    update = _update_name()
    if kind in DECISION_EVENTS or (kind is EventKind.SCRAPPED and update is not None):
        action = update or kind.value
        _count("liftoff_decisions", "Decisions applied, by action and role", {"action": action, "role": role or "team"})
    if kind is EventKind.STAGE_ENTERED:
        _count("liftoff_stage_transitions", "Initiatives entering a stage", {"stage": stage})
    elif kind is EventKind.STALLED:
        _count("liftoff_stalls", "Stalls, by reason", {"reason": reason or "", "stage": stage})
    elif kind is EventKind.ESCALATED:
        _count("liftoff_escalations", "Escalations, by reason", {"reason": reason or "", "stage": stage})
    elif kind is EventKind.SCRAPPED:
        _count("liftoff_scraps", "Initiatives scrapped, by reason", {"reason": reason or "", "stage": stage})
    elif kind is EventKind.PRODUCTION:
        _count("liftoff_production", "Initiatives reaching production", {})


def count_refusal(role: str | None) -> None:
    """Count a decision a validator refused (validators never run during replay)."""
    _count(
        "liftoff_refusals",
        "Decisions refused by a validator, by action and role",
        {"action": _update_name() or "", "role": role or "team"},
    )
