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
FindingId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
Evidence = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]

_STRICT = ConfigDict(extra="forbid", frozen=True)


class Decision(BaseModel):
    """What every decision carries: the stage it was meant for (a stale one is refused) and its token.

    The subclasses add the decision's own fields; their JSON is theirs plus these two.
    """

    model_config = _STRICT

    stage: Stage | None = None
    token: str | None = None


class ApproverDecision(Decision):
    """A decision by a person in a gate role, or by their delegate on their behalf.

    With ``on_behalf_of``, ``approver`` is the delegate who decides and ``on_behalf_of`` the person whose
    role it is; both are recorded, and separation of duties applies to both. The API checks the delegation
    before it signs such a decision.
    """

    approver: Email
    role: Role
    on_behalf_of: Email | None = None


class TeamDecision(Decision):
    """A decision by the team (the submitter or a team member)."""

    actor: Email


class ApproverReasoned(ApproverDecision):
    """An approver's decision that gives a reason code (and may say more)."""

    reason_code: ReasonCode
    detail: Text = ""


class TeamReasoned(TeamDecision):
    """A team decision that gives a reason code (and may say more)."""

    reason_code: ReasonCode
    detail: Text = ""


class ApproveInput(ApproverDecision):
    """An approver closes (their part of) the current gate."""

    comment: Text = ""


class RejectInput(ApproverReasoned):
    """An approver ends the initiative at the current gate."""


class RequestChangesInput(ApproverReasoned):
    """An approver sends the initiative back one stage with a reason."""


class WaiveFindingInput(ApproverDecision):
    """Infrastructure accepts a finding's risk with a justification (audited and reported)."""

    finding_id: FindingId
    justification: Evidence


class SubmitPocResultsInput(TeamDecision):
    """The team reports PoC metrics; they are evaluated against the criteria set at intake."""

    metrics: dict[str, float] = Field(min_length=1)
    spend_usd: float = Field(default=0, ge=0)
    summary: Text = ""


class ScrapInput(TeamReasoned):
    """Anyone entitled ends the initiative, at any non-terminal stage, with a reason."""


class ResolveFindingInput(TeamDecision):
    """The team shows a finding fixed, with evidence."""

    finding_id: FindingId
    evidence: Evidence


class ReportBlockerInput(TeamReasoned):
    """The team declares what blocks it, with a reason code (it becomes the stall reason)."""


class HoldInput(TeamReasoned):
    """Pause the initiative (and its SLA clock) with a reason."""


class ResumeInput(TeamDecision):
    """Resume a held initiative; the clock restarts with the time that was left."""

    detail: Text = ""


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
    #: the person whose role it is, when ``approver`` decided as their delegate
    on_behalf_of: str | None = None

    @property
    def people(self) -> tuple[str, ...]:
        """Everyone this approval counts for: the approver, and whom they acted for."""
        return (self.approver, self.on_behalf_of) if self.on_behalf_of else (self.approver,)
