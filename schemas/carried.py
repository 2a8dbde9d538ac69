"""The state an ``InitiativeWorkflow`` hands to its next run when it continues as new."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from schemas.decisions import Approval, Blocker, Hold
from schemas.findings import Finding
from schemas.integrations import Resource, Ticket
from schemas.stages import Stage
from schemas.status import PocEvaluation, Stall
from schemas.taxonomy import ReasonCode


class CarriedState(BaseModel):
    """Everything the workflow remembers between decisions (never a running child or pending events)."""

    model_config = ConfigDict(frozen=True)

    stage: Stage
    visited: list[Stage]
    stage_entered_at: datetime
    approvals: list[Approval] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    poc: PocEvaluation | None = None
    poc_spend: float = 0
    reason: ReasonCode | None = None
    reason_detail: str = ""
    hold: Hold | None = None
    held_in_stage: timedelta = timedelta()
    blocker: Blocker | None = None
    seq: int
    sandbox: Resource | None = None
    signoff_ticket: Ticket | None = None
    clock_start: datetime
    stall: Stall | None = None
    escalations: list[Ticket] = Field(default_factory=list)
    sandbox_renew_at: datetime | None = None
    runs: int = 1
    #: Nonces of the approval tokens already used: a token read from history cannot be used again.
    spent_nonces: list[str] = Field(default_factory=list)
