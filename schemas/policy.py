"""Gate policy as code: SLAs, quorum rules and the IT standards catalog, versioned."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from schemas.classification import DataClassification, DeploymentTarget, RiskTier
from schemas.notifications import NotificationPolicy
from schemas.stages import Role, Stage


class StagePolicy(BaseModel):
    """Timing of one stage. Durations are ISO 8601 in files (``P14D``, ``PT30S``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sla: timedelta
    abandon_after: timedelta


class ItStandards(BaseModel):
    """The catalog the automated infrastructure assessment checks a submission against."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed_targets: dict[DataClassification, list[DeploymentTarget]]
    require_containerized: bool = True
    max_gpu_count: int = Field(default=8, ge=0)
    supported_gpu_types: list[str] = Field(default_factory=list)
    max_budget_usd: float = Field(default=500_000, ge=0)
    max_storage_tb: float = Field(default=50, ge=0)


class PocSandboxPolicy(BaseModel):
    """Limits of the sandbox provisioned when a PoC starts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ttl: timedelta = timedelta(days=90)
    budget_usd: float = Field(default=20_000, ge=0)


class EscalationLevel(BaseModel):
    """One rung of the escalation ladder: when a stall has lasted this many SLAs, open a ticket to ``notify``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    after_sla_multiple: float = Field(ge=1)
    notify: str = Field(pattern="^(owner|sponsor|portfolio)$")


def _default_ladder() -> list[EscalationLevel]:
    return [
        EscalationLevel(after_sla_multiple=1, notify="owner"),
        EscalationLevel(after_sla_multiple=2, notify="sponsor"),
    ]


class Policy(BaseModel):
    """One version of the gate policy. Each initiative is pinned to the version it started under."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    stages: dict[Stage, StagePolicy]
    quorum: dict[Stage, list[Role]]
    risk_quorum: dict[RiskTier, dict[Stage, list[Role]]] = Field(default_factory=dict)
    it_standards: ItStandards
    poc_sandbox: PocSandboxPolicy = PocSandboxPolicy()
    escalation: list[EscalationLevel] = Field(default_factory=_default_ladder)
    #: What a failed rollout does: send the initiative back to IT sign-off, or scrap it.
    rollout_failure: Literal["send_back", "scrap"] = "send_back"
    #: Wait for the change ticket's approval (ticket webhook, or polling its state) before provisioning.
    change_approval: bool = False
    change_poll_interval: timedelta = timedelta(minutes=5)
    #: Reminders, quiet hours, digest. ``None`` (policies written before notifications): the defaults.
    notifications: NotificationPolicy | None = None
    #: Provisioned cost above this share of the budget is over budget (the spend report; ``None``: 1.0).
    over_budget_at: float | None = Field(default=None, gt=0, le=100)

    @model_serializer(mode="wrap")
    def _omit_unset_later_fields(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A start input signed before these fields existed must digest the same (worker.approval_interceptor).
        data: dict[str, Any] = handler(self)
        for later in ("notifications", "over_budget_at"):
            if data.get(later) is None:
                data.pop(later, None)
        return data

    @property
    def budget_threshold(self) -> float:
        """The share of its budget an initiative's provisioned cost may reach before it is over budget."""
        return self.over_budget_at if self.over_budget_at is not None else 1.0

    @property
    def notices(self) -> NotificationPolicy:
        """The notification settings in force (the defaults when the policy sets none)."""
        return self.notifications or NotificationPolicy()

    def required_roles(self, stage: Stage, risk_tier: RiskTier) -> list[Role]:
        """Roles whose approval closes ``stage`` for an initiative of ``risk_tier``, in a stable order."""
        roles = list(self.quorum.get(stage, []))
        for extra in self.risk_quorum.get(risk_tier, {}).get(stage, []):
            if extra not in roles:
                roles.append(extra)
        return roles
