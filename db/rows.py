"""Database rows as typed models (separate from workflow payloads and API bodies)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class InitiativeRow(BaseModel):
    """One row of ``initiatives``."""

    model_config = ConfigDict(frozen=True)

    id: str
    workflow_id: str
    title: str
    team: str
    business_unit: str
    sponsor: str
    submitter: str
    risk_tier: str
    data_classification: str
    procurement: str
    deployment_target: str
    budget_usd: float
    policy_version: str
    stage: str
    status: str
    stage_entered_at: datetime
    awaiting_roles: list[str]
    reason_code: str | None
    poc_spend_usd: float
    submitted_at: datetime
    updated_at: datetime


class QueueRow(BaseModel):
    """One thing a person can act on now (``approver_queue.sql``)."""

    model_config = ConfigDict(frozen=True)

    id: str
    workflow_id: str
    title: str
    team: str
    stage: str
    status: str
    due_at: datetime | None
    submitter: str
    approved_by: list[str]
    action: str
    roles: list[str]


class EventRow(BaseModel):
    """One row of ``lifecycle_events``."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    initiative_id: str
    seq: int
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
