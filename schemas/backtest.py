"""A policy backtest: what would have been different had a candidate policy been in force."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from schemas.limits import Moment, Name


class BacktestRequest(BaseModel):
    """``POST /v1/policy/backtest``: the candidate (a policy file's keys over the default) and the scope."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: dict[str, Any] = Field(description="the candidate policy: a policy file's content, as JSON")
    since: Moment | None = None
    until: Moment | None = None
    team: Name | None = None
    business_unit: Name | None = None


class Compared(BaseModel):
    """One count under the policy in force and under the candidate."""

    model_config = ConfigDict(frozen=True)

    baseline: int
    candidate: int


class BacktestTotals(BaseModel):
    """What the two policies give over the initiatives in scope."""

    model_config = ConfigDict(frozen=True)

    stalls: Compared
    escalations: Compared
    abandoned: Compared
    #: gate visits that closed on the approvals recorded, and would not have under the policy
    gates_not_closed: Compared
    #: initiatives whose infrastructure assessment would have raised a blocking finding
    blocking_findings: Compared


class Change(BaseModel):
    """One thing that would have been different for one initiative."""

    model_config = ConfigDict(frozen=True)

    id: str
    title: str
    what: str
    when: datetime | None


class StageDays(BaseModel):
    """Days spent in one stage under each policy (a visit abandoned earlier ends earlier)."""

    model_config = ConfigDict(frozen=True)

    stage: str
    baseline_days: float
    candidate_days: float
    #: candidate minus baseline: negative is days saved
    difference_days: float


class BacktestResult(BaseModel):
    """The answer: both versions, the totals side by side, and every change."""

    model_config = ConfigDict(frozen=True)

    baseline_version: str
    candidate_version: str
    initiatives: int
    totals: BacktestTotals
    changed: list[Change]
    days_by_stage: list[StageDays]
    #: initiatives that reached the infrastructure review whose recorded submission could not be read (rows
    #: loaded around liftoff): their assessment is not re-run
    not_assessed: int = 0
