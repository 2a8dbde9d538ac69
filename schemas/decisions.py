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


class ScrapInput(BaseModel):
    """Anyone entitled ends the initiative, at any non-terminal stage, with a reason."""

    model_config = _STRICT

    actor: Email
    reason_code: ReasonCode
    detail: Text = ""
    stage: Stage | None = None


class Approval(BaseModel):
    """An approval recorded in the current stage visit."""

    model_config = ConfigDict(frozen=True)

    approver: str
    role: Role
    comment: str = ""
    at: str
