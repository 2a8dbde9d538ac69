"""What a team submits, and what the workflow is started with."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from schemas import limits
from schemas.classification import DataClassification, DeploymentTarget, Procurement, RiskTier
from schemas.imported_start import ImportedStart
from schemas.initiative_state import InitiativeState
from schemas.policy import Policy

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class InfrastructureSpec(BaseModel):
    """The stack the team intends to run in production."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    deployment_target: DeploymentTarget
    containerized: bool
    gpu_type: str | None = None
    gpu_count: int = Field(default=0, ge=0)
    storage_tb: float = Field(default=0, ge=0)
    integrations: list[str] = Field(default_factory=list)
    expected_peak_qps: float = Field(default=0, ge=0)


Operator = Literal[">=", ">", "<=", "<", "=="]


class SuccessCriterion(BaseModel):
    """One measurable PoC success criterion, e.g. ``accuracy >= 0.9``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: NonEmpty
    operator: Operator
    target: float


class InfrastructureRequest(BaseModel):
    """``infrastructure`` of a submission, bounded (the API's model; the workflow holds the spec)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    deployment_target: DeploymentTarget
    containerized: bool
    gpu_type: limits.Name | None = None
    gpu_count: limits.Count = 0
    storage_tb: limits.Quantity = 0
    integrations: list[limits.Name] = Field(default_factory=list, max_length=limits.MAX_METRICS)
    expected_peak_qps: limits.Quantity = 0


class SuccessCriterionRequest(BaseModel):
    """A PoC success criterion as submitted: a named metric, an operator and a finite target."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: limits.Name
    operator: Operator
    target: limits.Metric


class SubmitInitiativeRequest(BaseModel):
    """Body of ``POST /v1/initiatives``: text storage accepts and finite, bounded numbers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: limits.Name
    summary: limits.RequiredText
    team: limits.Name
    business_unit: limits.Name
    sponsor: limits.EmailAddress
    risk_tier: RiskTier
    data_classification: DataClassification
    procurement: Procurement
    budget_usd: limits.Usd
    infrastructure: InfrastructureRequest
    poc_success_criteria: list[SuccessCriterionRequest] = Field(min_length=1, max_length=limits.MAX_METRICS)


class InitiativeSpec(BaseModel):
    """The submission as the workflow holds it (a payload, separate from the API model)."""

    model_config = ConfigDict(frozen=True)

    title: str
    summary: str
    team: str
    business_unit: str
    sponsor: str
    risk_tier: RiskTier
    data_classification: DataClassification
    procurement: Procurement
    budget_usd: float
    infrastructure: InfrastructureSpec
    poc_success_criteria: list[SuccessCriterion]


class StartInitiativeInput(BaseModel):
    """Argument of ``InitiativeWorkflow.run``.

    The roster (approver emails per role) is snapshotted with the policy at start so validators can
    check it without I/O.
    """

    model_config = ConfigDict(frozen=True)

    initiative_id: str
    spec: InitiativeSpec
    submitter: str
    submitted_at_iso: str = ""
    policy: Policy
    roster: dict[str, list[str]] = Field(default_factory=dict)
    #: Who may take team actions (submit PoC results, report a blocker, hold, resume, scrap, resolve a
    #: finding): the team's members with a role that acts, and admins. Empty (older runs): not checked.
    team_actors: list[str] = Field(default_factory=list)
    #: People sign in with an identity provider: roles and teams come from their groups, which the API
    #: checks before it signs a decision; a signed decision then stands in for the roster and team lookup.
    tokens_prove_roles: bool = False
    ui_base_url: str = ""
    #: Set when the workflow continues as new: the state of the previous run.
    carried: InitiativeState | None = None
    #: Set for an initiative imported from elsewhere (``POST /v1/imports``): it starts at this stage.
    imported: ImportedStart | None = None
    #: Continue as new once the history has this many events (the server may suggest it earlier).
    history_limit: int = Field(default=10_000, ge=20)
    #: liftoff's signature over everything above (``schemas/start_signature.py``); empty when unverified.
    signature: str = ""
