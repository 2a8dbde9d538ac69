"""Update payloads as the workflow receives them (from the API or pasted into the Web UI).

People type these by hand in the Web UI, so every model forbids unknown fields: a misspelled
``aprover`` is refused instead of silently dropped.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from schemas.stages import Role, Stage
from schemas.taxonomy import ReasonCode

Email = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[^@\s]+@[^@\s]+$")]
Text = Annotated[str, StringConstraints(max_length=5000)]

_STRICT = ConfigDict(extra="forbid", frozen=True)


class ApproveInput(BaseModel):
    """An approver closes (their part of) the current gate."""

    model_config = _STRICT

    approver: Email
    role: Role
    comment: Text = ""
    stage: Stage | None = None
    token: str | None = None


class RejectInput(BaseModel):
    """An approver ends the initiative at the current gate."""

    model_config = _STRICT

    approver: Email
    role: Role
    reason_code: ReasonCode
    detail: Text = ""
    stage: Stage | None = None
    token: str | None = None


class SubmitPocResultsInput(BaseModel):
    """The team reports PoC metrics; they are evaluated against the criteria set at intake."""

    model_config = _STRICT

    actor: Email
    metrics: dict[str, float] = Field(min_length=1)
    spend_usd: float = Field(default=0, ge=0)
    summary: Text = ""
    stage: Stage | None = None
    token: str | None = None


class ScrapInput(BaseModel):
    """Anyone entitled ends the initiative, at any non-terminal stage, with a reason."""

    model_config = _STRICT

    actor: Email
    reason_code: ReasonCode
    detail: Text = ""
    stage: Stage | None = None
    token: str | None = None


class RequestChangesInput(BaseModel):
    """An approver sends the initiative back one stage with a reason."""

    model_config = _STRICT

    approver: Email
    role: Role
    reason_code: ReasonCode
    detail: Text = ""
    stage: Stage | None = None
    token: str | None = None


class WaiveFindingInput(BaseModel):
    """Infrastructure accepts a finding's risk with a justification (audited and reported)."""

    model_config = _STRICT

    approver: Email
    role: Role
    finding_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
    justification: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]
    stage: Stage | None = None
    token: str | None = None


class ResolveFindingInput(BaseModel):
    """The team shows a finding fixed, with evidence."""

    model_config = _STRICT

    actor: Email
    finding_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
    evidence: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]
    stage: Stage | None = None
    token: str | None = None


class ReportBlockerInput(BaseModel):
    """The team declares what blocks it, with a reason code (it becomes the stall reason)."""

    model_config = _STRICT

    actor: Email
    reason_code: ReasonCode
    detail: Text = ""
    stage: Stage | None = None
    token: str | None = None


class HoldInput(BaseModel):
    """Pause the initiative (and its SLA clock) with a reason."""

    model_config = _STRICT

    actor: Email
    reason_code: ReasonCode
    detail: Text = ""
    stage: Stage | None = None
    token: str | None = None


class ResumeInput(BaseModel):
    """Resume a held initiative; the clock restarts with the time that was left."""

    model_config = _STRICT

    actor: Email
    detail: Text = ""
    stage: Stage | None = None
    token: str | None = None


class Blocker(BaseModel):
    """The last blocker a team reported."""

    model_config = ConfigDict(frozen=True)

    reason_code: ReasonCode
    detail: str
    actor: str
    at: str


class Hold(BaseModel):
    """Why and since when the initiative is on hold."""

    model_config = ConfigDict(frozen=True)

    reason_code: ReasonCode
    detail: str
    actor: str
    since: str


class Approval(BaseModel):
    """An approval recorded in the current stage visit."""

    model_config = ConfigDict(frozen=True)

    approver: str
    role: Role
    comment: str = ""
    at: str
