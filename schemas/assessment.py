"""Payloads of the infrastructure assessment activity."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from schemas.findings import Finding
from schemas.initiative import InitiativeSpec
from schemas.policy import ItStandards


class AssessInfrastructureInput(BaseModel):
    """What the assessment activity checks, and against which standards."""

    model_config = ConfigDict(frozen=True)

    initiative_id: str
    spec: InitiativeSpec
    standards: ItStandards
    #: provisioned cost above this share of the budget is a blocking ``PROD_COST_OVER_BUDGET`` finding
    over_budget_at: float = 1.0


class AssessInfrastructureResult(BaseModel):
    """Findings in a stable order, ids ``F-1``, ``F-2`` and so on."""

    model_config = ConfigDict(frozen=True)

    findings: list[Finding]
