"""HTTP request bodies of the action endpoints (separate from the workflow's update payloads).

The approver of an API decision is the authenticated principal, never a body field.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from schemas.decisions import Email
from schemas.limits import (
    MAX_METRICS,
    EmailAddress,
    Metric,
    Name,
    RequiredText,
    ShortId,
    Storable,
    Text,
    Usd,
    keys_named,
)
from schemas.stages import Role, Stage
from schemas.taxonomy import ReasonCode

_STRICT = ConfigDict(extra="forbid", frozen=True)

#: An approver's decision as someone's delegate: the person whose role it is (their delegation must name you).
#: The workflow's own address type (it refuses any white space), storable and bounded like every email here.
OnBehalfOf = Annotated[
    Annotated[Email, StringConstraints(max_length=254), Storable] | None,
    Field(description="decide as the delegate of this person, in their role (their delegation must name you)"),
]


class ApproveBody(BaseModel):
    """``POST /v1/initiatives/{id}/approve``."""

    model_config = _STRICT

    role: Role
    comment: Text = ""
    stage: Stage | None = None
    on_behalf_of: OnBehalfOf = None


class RejectBody(BaseModel):
    """``POST /v1/initiatives/{id}/reject``."""

    model_config = _STRICT

    role: Role
    reason_code: ReasonCode
    detail: Text = ""
    stage: Stage | None = None
    on_behalf_of: OnBehalfOf = None


class SubmitPocResultsBody(BaseModel):
    """``POST /v1/initiatives/{id}/submit-poc-results``."""

    model_config = _STRICT

    metrics: dict[Name, Metric] = Field(min_length=1, max_length=MAX_METRICS, json_schema_extra=keys_named)
    spend_usd: Usd = 0
    summary: Text = ""
    stage: Stage | None = None


class ScrapBody(BaseModel):
    """``POST /v1/initiatives/{id}/scrap``."""

    model_config = _STRICT

    reason_code: ReasonCode
    detail: Text = ""
    stage: Stage | None = None


class RequestChangesBody(BaseModel):
    """``POST /v1/initiatives/{id}/request-changes``."""

    model_config = _STRICT

    role: Role
    reason_code: ReasonCode
    detail: Text = ""
    stage: Stage | None = None
    on_behalf_of: OnBehalfOf = None


class WaiveFindingBody(BaseModel):
    """``POST /v1/initiatives/{id}/waive-finding``."""

    model_config = _STRICT

    finding_id: ShortId
    role: Role
    justification: RequiredText
    stage: Stage | None = None
    on_behalf_of: OnBehalfOf = None


class ResolveFindingBody(BaseModel):
    """``POST /v1/initiatives/{id}/resolve-finding``."""

    model_config = _STRICT

    finding_id: ShortId
    evidence: RequiredText
    stage: Stage | None = None


class ReasonBody(BaseModel):
    """``report-blocker`` and ``hold``: a reason code and detail."""

    model_config = _STRICT

    reason_code: ReasonCode
    detail: Text = ""
    stage: Stage | None = None


class ResumeBody(BaseModel):
    """``POST /v1/initiatives/{id}/resume``."""

    model_config = _STRICT

    detail: Text = ""
    stage: Stage | None = None


class ApprovalTokenBody(BaseModel):
    """``POST /v1/initiatives/{id}/approval-token``: the decision the token is for.

    ``fields`` are the decision's own fields as the action's body takes them (``comment``, ``reason_code``,
    ``detail``, ``metrics``, …; for ``change_decision``: ``approved``, ``detail``); the token is bound to them.
    """

    model_config = _STRICT

    role: Role | None = None
    action: Annotated[str, StringConstraints(pattern=r"^[a-z_-]{3,40}$")] = "approve"
    fields: dict[Name, Any] = Field(default_factory=dict, max_length=20, json_schema_extra=keys_named)


class DelegateBody(BaseModel):
    """``PUT /v1/me/delegate``: who decides in my approver roles on my behalf, until when."""

    model_config = _STRICT

    to: EmailAddress
    until: AwareDatetime = Field(description="when the delegation ends (with its time zone); at most a year ahead")
