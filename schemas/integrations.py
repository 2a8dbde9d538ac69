"""Payloads of the ticketing and provisioning activities and of the rollout child workflow."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class OpenTicketInput(BaseModel):
    """Open a ticket; ``idempotency_key`` makes a retried open find the first ticket."""

    model_config = ConfigDict(frozen=True)

    initiative_id: str
    idempotency_key: str
    kind: str
    title: str
    body: str = ""


class Ticket(BaseModel):
    """A ticket as the adapters report it."""

    model_config = ConfigDict(frozen=True)

    ref: str
    system: str
    status: str
    kind: str


class CloseTicketInput(BaseModel):
    """Close a ticket with an outcome (``done``, ``failed``, ``cancelled``)."""

    model_config = ConfigDict(frozen=True)

    ref: str
    outcome: str
    comment: str = ""


class ProvisionInput(BaseModel):
    """Request an environment for an initiative."""

    model_config = ConfigDict(frozen=True)

    initiative_id: str
    idempotency_key: str
    environment: str
    gpu_type: str | None = None
    gpu_count: int = 0
    storage_tb: float = 0
    budget_usd: float = 0
    ttl_seconds: int | None = None


class Resource(BaseModel):
    """An environment as the provisioner reports it."""

    model_config = ConfigDict(frozen=True)

    ref: str
    provider: str
    environment: str
    status: str
    cost_usd: float = 0


class ResourceRef(BaseModel):
    """Names one provisioned resource (for health checks)."""

    model_config = ConfigDict(frozen=True)

    ref: str


class RenewInput(BaseModel):
    """Extend a resource's time to live (the PoC sandbox, while the PoC is active)."""

    model_config = ConfigDict(frozen=True)

    ref: str
    ttl_seconds: int


class DeprovisionInput(BaseModel):
    """Tear an environment down."""

    model_config = ConfigDict(frozen=True)

    ref: str
    reason: str = ""


class RolloutInput(BaseModel):
    """Argument of ``RolloutWorkflow``."""

    model_config = ConfigDict(frozen=True)

    initiative_id: str
    title: str
    gpu_type: str | None = None
    gpu_count: int = 0
    storage_tb: float = 0
    budget_usd: float = 0
    #: Wait for the change ticket to be approved (webhook or poll) before provisioning production.
    await_change_approval: bool = False
    change_poll_seconds: int = 300
    #: The parent's signature over everything above (``schemas/start_signature.py``); empty when unverified.
    signature: str = ""


class ChangeDecisionInput(BaseModel):
    """The change board's decision on the rollout's change ticket (from a ticket webhook or a poll)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    approved: bool
    actor: str
    detail: str = ""
    #: The approval token the API signed for this decision (required when approvals are verified).
    token: str | None = None


class ChangeDecided(BaseModel):
    """Who decided the rollout's change request, and how (recorded by the initiative as an event)."""

    model_config = ConfigDict(frozen=True)

    approved: bool
    actor: str
    detail: str = ""
    #: True when the decision carried an approval token the worker verified.
    verified: bool = False


class RolloutResult(BaseModel):
    """How the rollout ended; on failure, what was compensated and the reason code."""

    model_config = ConfigDict(frozen=True)

    succeeded: bool
    change_ticket: str | None = None
    resource: str | None = None
    reason_code: str | None = None
    detail: str = ""
    compensated: list[str] = Field(default_factory=list)
    #: The change board's decision, when the rollout waited for one.
    change_decision: ChangeDecided | None = None


class HealthCheck(BaseModel):
    """Result of the ``check_health`` activity (the canary's verdict).

    Histories recorded before it was a model hold the bare boolean, which still decodes.
    """

    model_config = ConfigDict(frozen=True)

    healthy: bool

    @model_validator(mode="before")
    @classmethod
    def _from_bare_bool(cls, data: Any) -> Any:  # noqa: ANN401 - whatever a history holds
        return {"healthy": data} if isinstance(data, bool) else data
