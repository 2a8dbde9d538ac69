"""How an initiative is classified: risk, data sensitivity, procurement, deployment target."""

from __future__ import annotations

from enum import StrEnum


class RiskTier(StrEnum):
    """Risk tiers in the style of the EU AI Act."""

    MINIMAL = "minimal"
    LIMITED = "limited"
    HIGH = "high"
    UNACCEPTABLE = "unacceptable"


class DataClassification(StrEnum):
    """Most sensitive data the initiative touches."""

    PUBLIC = "public"
    INTERNAL = "internal"
    CONFIDENTIAL = "confidential"
    RESTRICTED = "restricted"


class Procurement(StrEnum):
    """Whether the initiative's infrastructure is bought inside or outside the IT plan."""

    IT_PLAN = "it_plan"
    SEPARATE = "separate"


class DeploymentTarget(StrEnum):
    """Where production would run."""

    PUBLIC_CLOUD = "public_cloud"
    ON_PREM = "on_prem"
    HYBRID = "hybrid"
