"""The versioned reason taxonomy: every non-advancing transition carries one of these codes."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

TAXONOMY_VERSION = "2026.2"


class ReasonFamily(StrEnum):
    """Families group codes for reporting (stall and scrap Pareto charts)."""

    BUSINESS = "BUSINESS"
    DATA = "DATA"
    TECHNICAL = "TECHNICAL"
    INFRASTRUCTURE = "INFRASTRUCTURE"
    COST = "COST"
    RISK_COMPLIANCE = "RISK_COMPLIANCE"
    ORGANISATION = "ORGANISATION"
    EXTERNAL = "EXTERNAL"


class ReasonCode(StrEnum):
    """Why an initiative was sent back, held, stalled, rejected or scrapped."""

    # BUSINESS
    BIZ_VALUE_UNPROVEN = "BIZ_VALUE_UNPROVEN"
    BIZ_PRIORITY_CHANGED = "BIZ_PRIORITY_CHANGED"
    SPONSOR_LOST = "SPONSOR_LOST"
    POC_CRITERIA_NOT_MET = "POC_CRITERIA_NOT_MET"
    # DATA
    DATA_GOVERNANCE_GAP = "DATA_GOVERNANCE_GAP"
    DATA_QUALITY_INSUFFICIENT = "DATA_QUALITY_INSUFFICIENT"
    DATA_ACCESS_BLOCKED = "DATA_ACCESS_BLOCKED"
    # TECHNICAL
    INTEGRATION_COMPLEXITY = "INTEGRATION_COMPLEXITY"
    SCALABILITY_UNPROVEN = "SCALABILITY_UNPROVEN"
    MODEL_PERFORMANCE_INSUFFICIENT = "MODEL_PERFORMANCE_INSUFFICIENT"
    POC_RESULTS_MISSING = "POC_RESULTS_MISSING"
    # INFRASTRUCTURE
    PLATFORM_MISALIGNED = "PLATFORM_MISALIGNED"
    CAPACITY_QUOTA_UNAVAILABLE = "CAPACITY_QUOTA_UNAVAILABLE"
    PROVISIONING_DELAY = "PROVISIONING_DELAY"
    FINDINGS_OPEN = "FINDINGS_OPEN"
    ROLLOUT_FAILED = "ROLLOUT_FAILED"
    # COST
    PROD_COST_OVER_BUDGET = "PROD_COST_OVER_BUDGET"
    BUDGET_CUT = "BUDGET_CUT"
    # RISK_COMPLIANCE
    SECURITY_FINDINGS_OPEN = "SECURITY_FINDINGS_OPEN"
    REG_PROHIBITED = "REG_PROHIBITED"
    PRIVACY_IMPACT_UNRESOLVED = "PRIVACY_IMPACT_UNRESOLVED"
    # ORGANISATION
    APPROVAL_PENDING = "APPROVAL_PENDING"
    CHANGE_REJECTED = "CHANGE_REJECTED"
    SKILLS_UNAVAILABLE = "SKILLS_UNAVAILABLE"
    OWNERSHIP_UNCLEAR = "OWNERSHIP_UNCLEAR"
    ABANDONED = "ABANDONED"
    # EXTERNAL
    VENDOR_DEPENDENCY = "VENDOR_DEPENDENCY"
    MARKET_CHANGED = "MARKET_CHANGED"


class ReasonInfo(BaseModel):
    """One code of the taxonomy with its family and meaning."""

    model_config = ConfigDict(frozen=True)

    code: ReasonCode
    family: ReasonFamily
    description: str


_F = ReasonFamily
_C = ReasonCode

TAXONOMY: dict[ReasonCode, ReasonInfo] = {
    info.code: info
    for info in (
        ReasonInfo(code=_C.BIZ_VALUE_UNPROVEN, family=_F.BUSINESS, description="Business value not demonstrated"),
        ReasonInfo(code=_C.BIZ_PRIORITY_CHANGED, family=_F.BUSINESS, description="Business priorities changed"),
        ReasonInfo(code=_C.SPONSOR_LOST, family=_F.BUSINESS, description="Executive sponsor left or withdrew"),
        ReasonInfo(
            code=_C.POC_CRITERIA_NOT_MET, family=_F.BUSINESS, description="PoC did not meet its success criteria"
        ),
        ReasonInfo(
            code=_C.DATA_GOVERNANCE_GAP, family=_F.DATA, description="Data governance gap found (lineage, consent)"
        ),
        ReasonInfo(
            code=_C.DATA_QUALITY_INSUFFICIENT, family=_F.DATA, description="Data quality too low for production"
        ),
        ReasonInfo(code=_C.DATA_ACCESS_BLOCKED, family=_F.DATA, description="Access to required data not granted"),
        ReasonInfo(
            code=_C.INTEGRATION_COMPLEXITY,
            family=_F.TECHNICAL,
            description="Integration with existing systems too complex",
        ),
        ReasonInfo(code=_C.SCALABILITY_UNPROVEN, family=_F.TECHNICAL, description="Scalability not demonstrated"),
        ReasonInfo(
            code=_C.MODEL_PERFORMANCE_INSUFFICIENT, family=_F.TECHNICAL, description="Model quality insufficient"
        ),
        ReasonInfo(code=_C.POC_RESULTS_MISSING, family=_F.TECHNICAL, description="PoC results not submitted"),
        ReasonInfo(
            code=_C.PLATFORM_MISALIGNED,
            family=_F.INFRASTRUCTURE,
            description="Stack is not one IT can run (outside standards)",
        ),
        ReasonInfo(
            code=_C.CAPACITY_QUOTA_UNAVAILABLE,
            family=_F.INFRASTRUCTURE,
            description="Compute, GPU or storage capacity unavailable",
        ),
        ReasonInfo(code=_C.PROVISIONING_DELAY, family=_F.INFRASTRUCTURE, description="Provisioning is late"),
        ReasonInfo(code=_C.FINDINGS_OPEN, family=_F.INFRASTRUCTURE, description="Blocking assessment findings open"),
        ReasonInfo(code=_C.ROLLOUT_FAILED, family=_F.INFRASTRUCTURE, description="Production rollout failed"),
        ReasonInfo(code=_C.PROD_COST_OVER_BUDGET, family=_F.COST, description="Production cost exceeds the budget"),
        ReasonInfo(code=_C.BUDGET_CUT, family=_F.COST, description="Budget withdrawn"),
        ReasonInfo(
            code=_C.SECURITY_FINDINGS_OPEN, family=_F.RISK_COMPLIANCE, description="Security findings unresolved"
        ),
        ReasonInfo(
            code=_C.REG_PROHIBITED, family=_F.RISK_COMPLIANCE, description="Prohibited use (unacceptable risk tier)"
        ),
        ReasonInfo(
            code=_C.PRIVACY_IMPACT_UNRESOLVED,
            family=_F.RISK_COMPLIANCE,
            description="Privacy impact assessment unresolved",
        ),
        ReasonInfo(code=_C.APPROVAL_PENDING, family=_F.ORGANISATION, description="Waiting for approvers"),
        ReasonInfo(
            code=_C.CHANGE_REJECTED, family=_F.ORGANISATION, description="Change request rejected by the change board"
        ),
        ReasonInfo(code=_C.SKILLS_UNAVAILABLE, family=_F.ORGANISATION, description="People with the skills missing"),
        ReasonInfo(code=_C.OWNERSHIP_UNCLEAR, family=_F.ORGANISATION, description="No clear owner"),
        ReasonInfo(code=_C.ABANDONED, family=_F.ORGANISATION, description="Abandoned after a long stall"),
        ReasonInfo(code=_C.VENDOR_DEPENDENCY, family=_F.EXTERNAL, description="Blocked on a vendor"),
        ReasonInfo(code=_C.MARKET_CHANGED, family=_F.EXTERNAL, description="Market or regulation changed"),
    )
}


def family_of(code: ReasonCode) -> ReasonFamily:
    """The family a reason code belongs to."""
    return TAXONOMY[code].family
