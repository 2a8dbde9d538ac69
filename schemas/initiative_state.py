"""What an ``InitiativeWorkflow`` remembers: one model, carried whole to the next run on continue-as-new.

The field names are those of the ``CarriedState`` that histories recorded before this model replaced it,
so their continue-as-new inputs still decode.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from schemas.decisions import Approval, Blocker, Hold
from schemas.findings import Finding
from schemas.integrations import Resource, Ticket
from schemas.stages import Stage
from schemas.status import PocEvaluation, Stall
from schemas.taxonomy import ReasonCode


class InitiativeState(BaseModel):
    """Everything the workflow remembers between decisions (never a running child or pending events)."""

    stage: Stage = Stage.PROPOSED
    visited: list[Stage] = Field(default_factory=list)
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
    seq: int = 0
    sandbox: Resource | None = None
    signoff_ticket: Ticket | None = None
    clock_start: datetime
    stall: Stall | None = None
    escalations: list[Ticket] = Field(default_factory=list)
    sandbox_renew_at: datetime | None = None
    runs: int = 1
    #: Nonces of the approval tokens already used: a token read from history cannot be used again.
    spent_nonces: list[str] = Field(default_factory=list)
    #: Who has been told in this stage visit that the gate waits for them (``role:<role>``, ``team:<action>``).
    announced: list[str] = Field(default_factory=list)
    #: Reminders sent since the stage's clock last started (an index into the policy's ``reminders_at``).
    reminders_sent: int = 0
