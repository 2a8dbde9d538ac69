"""Pure stall logic: deadlines of the SLA clock and derived reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.decisions import Blocker
from schemas.findings import Finding
from schemas.policy import EscalationLevel, StagePolicy
from schemas.stages import Role, Stage
from schemas.status import PocEvaluation
from schemas.taxonomy import ReasonCode
from tests.conftest import ROSTER, SUBMITTER
from workflows.gates import GateContext
from workflows.stalls import derive_stall_reason, next_deadline

T0 = datetime(2026, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)
LADDER = [
    EscalationLevel(after_sla_multiple=2, notify="sponsor"),
    EscalationLevel(after_sla_multiple=1, notify="owner"),
]
STAGE = StagePolicy(sla=14 * DAY, abandon_after=60 * DAY)


def _gate(stage: Stage, roles: list[Role], findings: list[Finding] | None = None) -> GateContext:
    return GateContext(
        stage=stage, submitter=SUBMITTER, required_roles=roles, approvals=[], roster=ROSTER, findings=findings or []
    )


def test_deadlines_walk_the_ladder_in_order() -> None:
    kwargs = {"stage_policy": STAGE, "ladder": LADDER, "clock_start": T0, "held": timedelta()}
    first = next_deadline(**kwargs, stalled=False, escalation_level=0)  # type: ignore[arg-type]
    assert first is not None
    assert (first.at, first.kind) == (T0 + 14 * DAY, "stall")  # the stall comes before the 1x rung
    rung1 = next_deadline(**kwargs, stalled=True, escalation_level=0)  # type: ignore[arg-type]
    assert rung1 is not None
    assert (rung1.at, rung1.kind) == (T0 + 14 * DAY, "escalate")
    rung2 = next_deadline(**kwargs, stalled=True, escalation_level=1)  # type: ignore[arg-type]
    assert rung2 is not None
    assert (rung2.at, rung2.kind) == (T0 + 28 * DAY, "escalate")
    last = next_deadline(**kwargs, stalled=True, escalation_level=2)  # type: ignore[arg-type]
    assert last is not None
    assert (last.at, last.kind) == (T0 + 60 * DAY, "abandon")


def test_time_on_hold_moves_every_deadline() -> None:
    deadline = next_deadline(
        stage_policy=STAGE, ladder=LADDER, clock_start=T0, held=3 * DAY, stalled=False, escalation_level=0
    )
    assert deadline is not None
    assert deadline.at == T0 + 17 * DAY
    assert (
        next_deadline(
            stage_policy=None, ladder=LADDER, clock_start=T0, held=timedelta(), stalled=False, escalation_level=0
        )
        is None
    )


def test_reasons_in_order_of_precedence() -> None:
    blocker = Blocker(reason_code=ReasonCode.VENDOR_DEPENDENCY, detail="GPU vendor late", actor=SUBMITTER, at="x")
    reason = derive_stall_reason(_gate(Stage.POC, [Role.BUSINESS_OWNER]), None, blocker, ROSTER)
    assert (reason.code, reason.detail) == (ReasonCode.VENDOR_DEPENDENCY, "team reported: GPU vendor late")

    reason = derive_stall_reason(_gate(Stage.POC, [Role.BUSINESS_OWNER]), None, None, ROSTER)
    assert reason.code is ReasonCode.POC_RESULTS_MISSING
    failed = PocEvaluation(
        metrics={"auc": 0.5},
        spend_usd=0,
        summary="",
        met=False,
        unmet=["auc >= 0.8 (got 0.5)"],
        submitted_by=SUBMITTER,
        at="x",
    )
    reason = derive_stall_reason(_gate(Stage.POC, [Role.BUSINESS_OWNER]), failed, None, ROSTER)
    assert (reason.code, reason.data) == (ReasonCode.POC_CRITERIA_NOT_MET, {"unmet": ["auc >= 0.8 (got 0.5)"]})

    finding = Finding(id="F-2", rule="budget", blocking=True, message="too much", reason_code=ReasonCode.BUDGET_CUT)
    reason = derive_stall_reason(_gate(Stage.INFRA_REVIEW, [Role.INFRASTRUCTURE], [finding]), None, None, ROSTER)
    assert (reason.code, reason.data) == (ReasonCode.FINDINGS_OPEN, {"finding_ids": ["F-2"]})

    reason = derive_stall_reason(_gate(Stage.ROLLOUT, []), None, None, ROSTER)
    assert reason.code is ReasonCode.PROVISIONING_DELAY

    reason = derive_stall_reason(_gate(Stage.IT_SIGNOFF, [Role.IT_OPERATIONS, Role.BUSINESS_OWNER]), None, None, ROSTER)
    assert reason.code is ReasonCode.APPROVAL_PENDING
    assert reason.detail == "waiting for approval by it_operations, business_owner"
    assert reason.data == {"roles": ["it_operations", "business_owner"]}
    assert reason.owners == ("beth@example.com", "bob@example.com", "olga@example.com")
