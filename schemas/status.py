"""What the ``status`` query and ``GET /v1/initiatives/{id}`` answer."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from schemas.decisions import Approval, Blocker, Hold
from schemas.findings import Finding
from schemas.stages import InitiativeStatus, Stage
from schemas.taxonomy import ReasonCode


class PocEvaluation(BaseModel):
    """Latest PoC results and whether they meet the criteria set at intake."""

    model_config = ConfigDict(frozen=True)

    metrics: dict[str, float]
    spend_usd: float
    summary: str
    met: bool
    unmet: list[str] = Field(default_factory=list)
    submitted_by: str
    at: str


class Stall(BaseModel):
    """Why and since when the stage is stalled, and how far it has been escalated."""

    model_config = ConfigDict(frozen=True)

    reason_code: ReasonCode
    detail: str
    since: str
    escalation_level: int = 0
    owners: list[str] = Field(default_factory=list)
    tickets: list[str] = Field(default_factory=list)


class InitiativeStatusView(BaseModel):
    """The live state of one initiative, from its workflow."""

    model_config = ConfigDict(frozen=True)

    id: str
    workflow_id: str
    title: str
    team: str
    business_unit: str
    sponsor: str
    submitter: str
    risk_tier: str
    policy_version: str
    stage: Stage
    status: InitiativeStatus
    stage_entered_at: str
    awaiting_roles: list[str]
    approvals: list[Approval]
    findings: list[Finding]
    poc: PocEvaluation | None = None
    reason_code: ReasonCode | None = None
    reason_detail: str = ""
    visited: list[Stage] = Field(default_factory=list)
    assessment_pending: bool = False
    hold: Hold | None = None
    blocker: Blocker | None = None
    sla_due_at: str | None = None
    stall: Stall | None = None
    rollout_workflow_id: str | None = None
