"""HTTP request bodies of the action endpoints (separate from the workflow's update payloads).

The approver of an API decision is the authenticated principal, never a body field.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from schemas.stages import Role, Stage
from schemas.taxonomy import ReasonCode

Text = Annotated[str, StringConstraints(max_length=5000)]
_STRICT = ConfigDict(extra="forbid", frozen=True)


class ApproveBody(BaseModel):
    """``POST /v1/initiatives/{id}/approve``."""

    model_config = _STRICT

    role: Role
    comment: Text = ""
    stage: Stage | None = None


class RejectBody(BaseModel):
    """``POST /v1/initiatives/{id}/reject``."""

    model_config = _STRICT

    role: Role
    reason_code: ReasonCode
    detail: Text = ""
    stage: Stage | None = None


class SubmitPocResultsBody(BaseModel):
    """``POST /v1/initiatives/{id}/submit-poc-results``."""

    model_config = _STRICT

    metrics: dict[str, float] = Field(min_length=1)
    spend_usd: float = Field(default=0, ge=0)
    summary: Text = ""
    stage: Stage | None = None


class ScrapBody(BaseModel):
    """``POST /v1/initiatives/{id}/scrap``."""

    model_config = _STRICT

    reason_code: ReasonCode
    detail: Text = ""
    stage: Stage | None = None
