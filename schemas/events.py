"""Lifecycle events: what the workflow records in PostgreSQL, and the read-model snapshot with it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.initiative import InitiativeSpec
from schemas.notifications import Notice
from schemas.stages import InitiativeStatus, Stage
from schemas.taxonomy import ReasonCode


class EventKind(StrEnum):
    """Kinds of lifecycle events."""

    SUBMITTED = "submitted"
    STAGE_ENTERED = "stage_entered"
    STAGE_LEFT = "stage_left"
    APPROVED = "approved"
    REJECTED = "rejected"
    POC_RESULTS_SUBMITTED = "poc_results_submitted"
    FINDING_RAISED = "finding_raised"
    SANDBOX_PROVISIONED = "sandbox_provisioned"
    SANDBOX_DEPROVISIONED = "sandbox_deprovisioned"
    ROLLOUT_STARTED = "rollout_started"
    ROLLOUT_FAILED = "rollout_failed"
    SCRAPPED = "scrapped"
    PRODUCTION = "production"
    DECISION_REFUSED = "decision_refused"
    CHANGES_REQUESTED = "changes_requested"
    FINDING_RESOLVED = "finding_resolved"
    FINDING_WAIVED = "finding_waived"
    BLOCKER_REPORTED = "blocker_reported"
    HELD = "held"
    RESUMED = "resumed"
    STALLED = "stalled"
    ESCALATED = "escalated"
    STALL_CLEARED = "stall_cleared"
    SANDBOX_RENEWED = "sandbox_renewed"
    CHANGE_DECIDED = "change_decided"
    #: A fraction of the stage's SLA passed while the gate waited; the people it waits for are reminded.
    REMINDED = "reminded"
    #: The initiative's workflow was terminated, cancelled or reset outside liftoff (recorded by the worker).
    TAMPERED = "tampered"
    #: The initiative was imported from elsewhere (``POST /v1/imports``): its earlier events carry their
    #: original dates; this one says when, by whom and from where.
    IMPORTED = "imported"


class LifecycleEvent(BaseModel):
    """One fact about an initiative. ``event_id`` is deterministic so retries never duplicate."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    initiative_id: str
    seq: int
    kind: EventKind
    stage: Stage
    actor: str | None = None
    role: str | None = None
    reason_code: ReasonCode | None = None
    detail: str = ""
    data: dict[str, Any] = Field(default_factory=dict)
    occurred_at: datetime
    policy_version: str
    verified: bool = False


class TeamAction(StrEnum):
    """What an initiative waits for from its own team."""

    SUBMIT_POC_RESULTS = "submit_poc_results"
    RESOLVE_FINDINGS = "resolve_findings"
    CLEAR_BLOCKER = "clear_blocker"


class InitiativeSnapshot(BaseModel):
    """The read-model row of an initiative as of the event it travels with."""

    model_config = ConfigDict(frozen=True)

    initiative_id: str
    workflow_id: str
    spec: InitiativeSpec
    submitter: str
    policy_version: str
    stage: Stage
    status: InitiativeStatus
    stage_entered_at: datetime
    awaiting_roles: list[str]
    reason_code: ReasonCode | None = None
    submitted_at: datetime
    poc_spend_usd: float = 0
    #: when the stage's SLA runs out (None on hold, at a terminal stage, or without an SLA)
    due_at: datetime | None = None
    #: who has approved the current stage visit (they are no longer waited for)
    approved_by: list[str] = Field(default_factory=list)
    #: whether the awaited roles can decide now (PoC results in, no open blocking finding, not on hold)
    approvers_can_act: bool = True
    #: what the team must do before the gate can close: ``submit_poc_results``, ``resolve_findings``, or
    #: ``clear_blocker`` (a blocker it reported); None when nothing waits on the team
    team_action: TeamAction | None = None


class RecordEventsInput(BaseModel):
    """Argument of the ``record_events`` activity: events in order and the snapshot after the last."""

    model_config = ConfigDict(frozen=True)

    events: list[LifecycleEvent] = Field(min_length=1)
    snapshot: InitiativeSnapshot
    #: who must be told what, recorded in the same transaction as the events
    notices: list[Notice] = Field(default_factory=list)


class RecordedEvents(BaseModel):
    """Result of the ``record_events`` activity: how many of the events were new (a retry finds them there).

    Histories recorded before it was a model hold the bare count, which still decodes.
    """

    model_config = ConfigDict(frozen=True)

    new: int

    @model_validator(mode="before")
    @classmethod
    def _from_bare_count(cls, data: Any) -> Any:  # noqa: ANN401 - whatever a history holds
        return {"new": data} if isinstance(data, int) and not isinstance(data, bool) else data
