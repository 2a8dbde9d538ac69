"""The automated infrastructure assessment: a submission checked against the IT standards catalog."""

from __future__ import annotations

import asyncpg
from temporalio import activity

from db import resources_repo
from schemas.assessment import AssessInfrastructureInput, AssessInfrastructureResult
from schemas.findings import Finding
from schemas.taxonomy import ReasonCode


def assess(inp: AssessInfrastructureInput, provisioned_usd: float = 0.0) -> list[Finding]:
    """Findings for every standard the submission misses, numbered ``F-1``, ``F-2``, … in check order.

    ``provisioned_usd`` is what the initiative's environments have cost so far (the provisioners' reports in
    the ledger): above the policy's share of the budget it is a blocking finding.
    """
    spec, std = inp.spec, inp.standards
    infra = spec.infrastructure
    raw: list[tuple[str, bool, str, ReasonCode]] = []

    allowed = std.allowed_targets.get(spec.data_classification, [])
    if infra.deployment_target not in allowed:
        names = ", ".join(t.value for t in allowed) or "none"
        raw.append(
            (
                "deployment_target",
                True,
                (
                    f"{spec.data_classification.value} data may not run on {infra.deployment_target.value}; "
                    f"allowed: {names}"
                ),
                ReasonCode.DATA_GOVERNANCE_GAP,
            )
        )
    if std.require_containerized and not infra.containerized:
        raw.append(
            (
                "containerized",
                True,
                "the workload is not containerized; IT runs only container workloads",
                ReasonCode.PLATFORM_MISALIGNED,
            )
        )
    if infra.gpu_count > std.max_gpu_count:
        raw.append(
            (
                "gpu_capacity",
                True,
                f"{infra.gpu_count} GPUs requested; capacity allows at most {std.max_gpu_count}",
                ReasonCode.CAPACITY_QUOTA_UNAVAILABLE,
            )
        )
    if infra.gpu_count and infra.gpu_type and std.supported_gpu_types and infra.gpu_type not in std.supported_gpu_types:
        raw.append(
            (
                "gpu_type",
                False,
                f"GPU type {infra.gpu_type} is not in the supported catalog ({', '.join(std.supported_gpu_types)})",
                ReasonCode.PLATFORM_MISALIGNED,
            )
        )
    if spec.budget_usd > std.max_budget_usd:
        raw.append(
            (
                "budget",
                True,
                f"budget {spec.budget_usd:,.0f} USD exceeds the limit of {std.max_budget_usd:,.0f} USD",
                ReasonCode.PROD_COST_OVER_BUDGET,
            )
        )
    if provisioned_usd > spec.budget_usd * inp.over_budget_at:
        raw.append(
            (
                "cost",
                True,
                f"provisioned cost so far, {provisioned_usd:,.0f} USD, passes "
                + (f"{inp.over_budget_at:.0%} of " if inp.over_budget_at != 1 else "")
                + f"the budget of {spec.budget_usd:,.0f} USD",
                ReasonCode.PROD_COST_OVER_BUDGET,
            )
        )
    if infra.storage_tb > std.max_storage_tb:
        raw.append(
            (
                "storage",
                False,
                f"{infra.storage_tb:g} TB of storage requested; the standard allows {std.max_storage_tb:g} TB",
                ReasonCode.CAPACITY_QUOTA_UNAVAILABLE,
            )
        )
    return [
        Finding(id=f"F-{n}", rule=rule, blocking=blocking, message=message, reason_code=code)
        for n, (rule, blocking, message, code) in enumerate(raw, start=1)
    ]


class AssessmentActivities:
    """The assessment activity, reading what the initiative has cost so far from the resource ledger."""

    def __init__(self, ledger: asyncpg.Pool | None = None) -> None:
        self._ledger = ledger

    @activity.defn(name="assess_infrastructure")
    async def assess_infrastructure(self, inp: AssessInfrastructureInput) -> AssessInfrastructureResult:
        """Run the assessment against the standards and the cost recorded so far."""
        provisioned = await resources_repo.provisioned_usd(self._ledger, inp.initiative_id) if self._ledger else 0.0
        findings = assess(inp, provisioned)
        activity.logger.info(
            "infrastructure assessed",
            extra={"initiative_id": inp.initiative_id, "findings": len(findings), "provisioned_usd": provisioned},
        )
        return AssessInfrastructureResult(findings=findings)
