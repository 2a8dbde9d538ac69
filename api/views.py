"""Response models of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class SubmitResponse(BaseModel):
    """Answer to a submission."""

    model_config = ConfigDict(frozen=True)

    id: str
    workflow_id: str
    stage: str
    status: str
    web_ui_url: str


class InitiativeSummary(BaseModel):
    """One line of ``GET /v1/initiatives`` (from the read model)."""

    model_config = ConfigDict(frozen=True)

    id: str
    workflow_id: str
    title: str
    team: str
    business_unit: str
    risk_tier: str
    procurement: str
    stage: str
    status: str
    awaiting_roles: list[str]
    reason_code: str | None
    stage_entered_at: datetime
    submitted_at: datetime


class InitiativeList(BaseModel):
    """``GET /v1/initiatives``."""

    model_config = ConfigDict(frozen=True)

    items: list[InitiativeSummary]
    limit: int
    offset: int


class EventView(BaseModel):
    """One lifecycle event."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    kind: str
    stage: str
    actor: str | None
    role: str | None
    reason_code: str | None
    reason_family: str | None
    detail: str
    data: dict[str, Any]
    occurred_at: datetime
    policy_version: str
    verified: bool


class EventList(BaseModel):
    """``GET /v1/initiatives/{id}/events``."""

    model_config = ConfigDict(frozen=True)

    initiative_id: str
    events: list[EventView]


class QueueItem(BaseModel):
    """One thing the caller can act on now.

    ``action`` is ``approve`` (``roles`` lists the caller's roles the gate awaits) or what the gate waits
    for from the caller's team: ``submit_poc_results``, ``resolve_findings``, ``clear_blocker``.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    title: str
    team: str
    stage: str
    action: str
    roles: list[str]
    due_at: datetime | None
    stalled: bool
    web_ui_url: str
    #: set when the caller would act as this person's delegate (pass it as the decision's ``on_behalf_of``)
    on_behalf_of: str | None = None


class Queue(BaseModel):
    """``GET /v1/me/queue``: soonest due first."""

    model_config = ConfigDict(frozen=True)

    items: list[QueueItem]


class DelegationView(BaseModel):
    """A delegation in force: ``delegate`` decides in ``roles`` for ``delegator`` until ``until``."""

    model_config = ConfigDict(frozen=True)

    delegator: str
    delegate: str
    roles: list[str]
    until: datetime
    #: ``file`` (the principals file) or ``self`` (set by the delegator through the API)
    source: str


class MyDelegation(BaseModel):
    """``/v1/me/delegate``: my delegation in force (if any), and the people I may act for now."""

    model_config = ConfigDict(frozen=True)

    delegate: DelegationView | None
    acting_for: list[DelegationView]
