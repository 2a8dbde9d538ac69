"""The automated infrastructure assessment against the default IT standards catalog."""

from __future__ import annotations

import pytest

from activities.assessment import assess
from schemas.assessment import AssessInfrastructureInput
from schemas.classification import DataClassification, DeploymentTarget
from schemas.findings import Finding, FindingStatus
from schemas.initiative import InfrastructureSpec, InitiativeSpec
from schemas.policy import Policy
from schemas.taxonomy import ReasonCode
from tests.conftest import make_spec


def infra(**overrides: object) -> InfrastructureSpec:
    """The compliant stack of ``make_spec`` with some fields changed."""
    data = make_spec().infrastructure.model_dump()
    data.update(overrides)
    return InfrastructureSpec.model_validate(data)


def run(policy: Policy, spec: InitiativeSpec) -> list[Finding]:
    return assess(AssessInfrastructureInput(initiative_id="i-1", spec=spec, standards=policy.it_standards))


def summary(findings: list[Finding]) -> list[tuple[str, str, bool, ReasonCode]]:
    return [(f.id, f.rule, f.blocking, f.reason_code) for f in findings]


def test_compliant_spec_has_no_findings(policy: Policy) -> None:
    assert run(policy, make_spec()) == []


def test_values_exactly_at_the_limits_pass(policy: Policy) -> None:
    spec = make_spec(budget_usd=500_000, infrastructure=infra(gpu_count=8, storage_tb=50))

    assert run(policy, spec) == []


@pytest.mark.parametrize(
    ("overrides", "rule", "blocking", "code", "message"),
    [
        (
            {"data_classification": DataClassification.RESTRICTED},
            "deployment_target",
            True,
            ReasonCode.DATA_GOVERNANCE_GAP,
            "restricted data may not run on public_cloud; allowed: on_prem",
        ),
        (
            {"infrastructure": infra(containerized=False)},
            "containerized",
            True,
            ReasonCode.PLATFORM_MISALIGNED,
            "the workload is not containerized; IT runs only container workloads",
        ),
        (
            {"infrastructure": infra(gpu_count=9)},
            "gpu_capacity",
            True,
            ReasonCode.CAPACITY_QUOTA_UNAVAILABLE,
            "9 GPUs requested; capacity allows at most 8",
        ),
        (
            {"infrastructure": infra(gpu_type="amd-mi300")},
            "gpu_type",
            False,
            ReasonCode.PLATFORM_MISALIGNED,
            "GPU type amd-mi300 is not in the supported catalog (nvidia-a100, nvidia-h100, nvidia-l4, nvidia-t4)",
        ),
        (
            {"budget_usd": 600_000},
            "budget",
            True,
            ReasonCode.PROD_COST_OVER_BUDGET,
            "budget 600,000 USD exceeds the limit of 500,000 USD",
        ),
        (
            {"infrastructure": infra(storage_tb=60.5)},
            "storage",
            False,
            ReasonCode.CAPACITY_QUOTA_UNAVAILABLE,
            "60.5 TB of storage requested; the standard allows 50 TB",
        ),
    ],
    ids=["deployment_target", "containerized", "gpu_capacity", "gpu_type", "budget", "storage"],
)
def test_each_rule_yields_exactly_one_finding(
    policy: Policy, overrides: dict[str, object], rule: str, blocking: bool, code: ReasonCode, message: str
) -> None:
    findings = run(policy, make_spec(**overrides))

    assert findings == [
        Finding(id="F-1", rule=rule, blocking=blocking, status=FindingStatus.OPEN, message=message, reason_code=code)
    ]


def test_unsupported_gpu_type_is_ignored_when_no_gpu_is_requested(policy: Policy) -> None:
    assert run(policy, make_spec(infrastructure=infra(gpu_type="amd-mi300", gpu_count=0))) == []


def test_confidential_data_on_public_cloud_lists_both_allowed_targets(policy: Policy) -> None:
    findings = run(policy, make_spec(data_classification=DataClassification.CONFIDENTIAL))

    assert [f.message for f in findings] == ["confidential data may not run on public_cloud; allowed: on_prem, hybrid"]


def test_restricted_data_on_prem_is_allowed(policy: Policy) -> None:
    spec = make_spec(
        data_classification=DataClassification.RESTRICTED,
        infrastructure=infra(deployment_target=DeploymentTarget.ON_PREM),
    )

    assert run(policy, spec) == []


def test_every_failing_rule_is_numbered_in_check_order(policy: Policy) -> None:
    spec = make_spec(
        data_classification=DataClassification.RESTRICTED,
        budget_usd=1_000_000,
        infrastructure=infra(containerized=False, gpu_count=16, gpu_type="amd-mi300", storage_tb=100),
    )

    assert summary(run(policy, spec)) == [
        ("F-1", "deployment_target", True, ReasonCode.DATA_GOVERNANCE_GAP),
        ("F-2", "containerized", True, ReasonCode.PLATFORM_MISALIGNED),
        ("F-3", "gpu_capacity", True, ReasonCode.CAPACITY_QUOTA_UNAVAILABLE),
        ("F-4", "gpu_type", False, ReasonCode.PLATFORM_MISALIGNED),
        ("F-5", "budget", True, ReasonCode.PROD_COST_OVER_BUDGET),
        ("F-6", "storage", False, ReasonCode.CAPACITY_QUOTA_UNAVAILABLE),
    ]


def test_ids_are_consecutive_when_only_some_rules_fail(policy: Policy) -> None:
    spec = make_spec(budget_usd=900_000, infrastructure=infra(containerized=False, storage_tb=75))

    assert summary(run(policy, spec)) == [
        ("F-1", "containerized", True, ReasonCode.PLATFORM_MISALIGNED),
        ("F-2", "budget", True, ReasonCode.PROD_COST_OVER_BUDGET),
        ("F-3", "storage", False, ReasonCode.CAPACITY_QUOTA_UNAVAILABLE),
    ]


def test_containerization_is_not_checked_when_the_standard_does_not_require_it(policy: Policy) -> None:
    relaxed = policy.it_standards.model_copy(update={"require_containerized": False})
    spec = make_spec(infrastructure=infra(containerized=False))

    assert assess(AssessInfrastructureInput(initiative_id="i-1", spec=spec, standards=relaxed)) == []


def test_provisioned_cost_over_the_budget_is_a_blocking_finding(policy: Policy) -> None:
    spec = make_spec(budget_usd=15_000)
    request = AssessInfrastructureInput(initiative_id="i-1", spec=spec, standards=policy.it_standards)

    assert assess(request, provisioned_usd=15_000) == []  # at the budget is not over it
    [finding] = assess(request, provisioned_usd=20_000)
    assert (finding.id, finding.rule, finding.blocking, finding.reason_code) == (
        "F-1",
        "cost",
        True,
        ReasonCode.PROD_COST_OVER_BUDGET,
    )
    assert finding.message == "provisioned cost so far, 20,000 USD, passes the budget of 15,000 USD"
    # a policy that tolerates 150% of the budget
    lenient = request.model_copy(update={"over_budget_at": 1.5})
    assert assess(lenient, provisioned_usd=20_000) == []
    [late] = assess(lenient, provisioned_usd=23_000)
    assert late.message == "provisioned cost so far, 23,000 USD, passes 150% of the budget of 15,000 USD"
