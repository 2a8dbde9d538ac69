"""Pure gate logic: PoC evaluation, gate state and every refusal a validator can give."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from schemas.decisions import Approval, ApproveInput, HoldInput, RejectInput, ScrapInput, SubmitPocResultsInput
from schemas.events import TeamAction
from schemas.findings import Finding, FindingStatus
from schemas.initiative import Operator, SuccessCriterion
from schemas.stages import Role, Stage
from schemas.taxonomy import ReasonCode
from tests.conftest import ROSTER, SUBMITTER
from workflows.gates import (
    GateContext,
    evaluate_poc,
    refuse_approve,
    refuse_hold,
    refuse_poc_results,
    refuse_reject,
    refuse_scrap,
    team_action,
)

#: The default policy's quorum for a limited-risk initiative.
QUORUM: dict[Stage, list[Role]] = {
    Stage.PROPOSED: [Role.PORTFOLIO],
    Stage.POC: [Role.BUSINESS_OWNER],
    Stage.INFRA_REVIEW: [Role.INFRASTRUCTURE],
    Stage.IT_SIGNOFF: [Role.IT_OPERATIONS, Role.BUSINESS_OWNER],
}


def approval(approver: str, role: Role) -> Approval:
    return Approval(approver=approver, role=role, at="2026-01-01T00:00:00+00:00")


def finding(fid: str, *, blocking: bool = True, status: FindingStatus = FindingStatus.OPEN) -> Finding:
    return Finding(
        id=fid,
        rule="containerized",
        blocking=blocking,
        status=status,
        message="not containerized",
        reason_code=ReasonCode.PLATFORM_MISALIGNED,
    )


def gate(
    stage: Stage,
    *,
    required_roles: Sequence[Role] | None = None,
    approvals: Sequence[Approval] = (),
    poc_met: bool = False,
    findings: Sequence[Finding] = (),
    on_hold: bool = False,
) -> GateContext:
    return GateContext(
        stage=stage,
        submitter=SUBMITTER,
        required_roles=QUORUM.get(stage, []) if required_roles is None else required_roles,
        approvals=approvals,
        roster=ROSTER,
        poc_met=poc_met,
        findings=findings,
        on_hold=on_hold,
    )


def approve(approver: str, role: Role, stage: Stage | None = None) -> ApproveInput:
    return ApproveInput(approver=approver, role=role, stage=stage)


def reject(approver: str, role: Role, stage: Stage | None = None) -> RejectInput:
    return RejectInput(approver=approver, role=role, reason_code=ReasonCode.BIZ_VALUE_UNPROVEN, stage=stage)


def poc_results(stage: Stage | None = None) -> SubmitPocResultsInput:
    return SubmitPocResultsInput(actor="team@example.com", metrics={"auc": 0.9}, stage=stage)


def scrap(stage: Stage | None = None) -> ScrapInput:
    return ScrapInput(actor="team@example.com", reason_code=ReasonCode.BIZ_PRIORITY_CHANGED, stage=stage)


# --- evaluate_poc ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "target", "passing", "failing"),
    [
        (">=", 0.8, 0.8, 0.79),
        (">", 0.8, 0.81, 0.8),
        ("<=", 200.0, 200.0, 201.0),
        ("<", 200.0, 199.0, 200.0),
        ("==", 1.0, 1.0, 0.5),
    ],
)
def test_evaluate_poc_applies_each_operator(operator: Operator, target: float, passing: float, failing: float) -> None:
    criteria = [SuccessCriterion(metric="m", operator=operator, target=target)]

    assert evaluate_poc(criteria, {"m": passing}) == []
    assert evaluate_poc(criteria, {"m": failing}) == [f"m {operator} {target:g} (got {failing:g})"]


def test_evaluate_poc_reports_a_missing_metric_as_not_reported() -> None:
    criteria = [SuccessCriterion(metric="auc", operator=">=", target=0.8)]

    assert evaluate_poc(criteria, {"precision": 0.99}) == ["auc >= 0.8 (not reported)"]


def test_evaluate_poc_lists_every_unmet_criterion_in_order_and_skips_met_ones() -> None:
    criteria = [
        SuccessCriterion(metric="auc", operator=">=", target=0.8),
        SuccessCriterion(metric="latency_ms", operator="<", target=200),
        SuccessCriterion(metric="recall", operator=">", target=0.5),
    ]

    assert evaluate_poc(criteria, {"auc": 0.7, "latency_ms": 150}) == [
        "auc >= 0.8 (got 0.7)",
        "recall > 0.5 (not reported)",
    ]


def test_evaluate_poc_returns_empty_list_when_all_criteria_are_met() -> None:
    criteria = [
        SuccessCriterion(metric="auc", operator=">=", target=0.8),
        SuccessCriterion(metric="latency_ms", operator="<", target=200),
    ]

    assert evaluate_poc(criteria, {"auc": 0.85, "latency_ms": 120, "extra": 1}) == []


# --- GateContext properties -----------------------------------------------------------------------


def test_awaiting_roles_are_required_roles_without_an_approval_in_order() -> None:
    ctx = gate(Stage.IT_SIGNOFF, approvals=[approval("olga@example.com", Role.IT_OPERATIONS)])

    assert ctx.awaiting_roles == [Role.BUSINESS_OWNER]
    assert gate(Stage.IT_SIGNOFF).awaiting_roles == [Role.IT_OPERATIONS, Role.BUSINESS_OWNER]


def test_open_blocking_keeps_only_blocking_findings_that_are_open() -> None:
    findings = [
        finding("F-1"),
        finding("F-2", blocking=False),
        finding("F-3", status=FindingStatus.RESOLVED),
        finding("F-4", status=FindingStatus.WAIVED),
        finding("F-5"),
    ]

    assert [f.id for f in gate(Stage.INFRA_REVIEW, findings=findings).open_blocking] == ["F-1", "F-5"]


def test_preconditions_at_poc_follow_poc_met() -> None:
    assert gate(Stage.POC, poc_met=False).preconditions_met is False
    assert gate(Stage.POC, poc_met=True).preconditions_met is True


def test_preconditions_at_infra_review_follow_open_blocking_findings() -> None:
    assert gate(Stage.INFRA_REVIEW, findings=[finding("F-1")]).preconditions_met is False
    settled = [finding("F-1", status=FindingStatus.WAIVED), finding("F-2", blocking=False)]
    assert gate(Stage.INFRA_REVIEW, findings=settled).preconditions_met is True


@pytest.mark.parametrize("stage", [Stage.PROPOSED, Stage.IT_SIGNOFF, Stage.ROLLOUT])
def test_preconditions_elsewhere_hold_even_with_open_blocking_findings(stage: Stage) -> None:
    assert gate(stage, findings=[finding("F-1")]).preconditions_met is True


def test_closed_at_poc_needs_results_and_business_owner() -> None:
    approved = [approval("bob@example.com", Role.BUSINESS_OWNER)]

    assert gate(Stage.POC, approvals=approved, poc_met=False).closed is False
    assert gate(Stage.POC, approvals=(), poc_met=True).closed is False
    assert gate(Stage.POC, approvals=approved, poc_met=True).closed is True


def test_closed_at_infra_review_needs_blocking_findings_settled_and_infrastructure() -> None:
    approved = [approval("ian@example.com", Role.INFRASTRUCTURE)]

    assert gate(Stage.INFRA_REVIEW, approvals=approved, findings=[finding("F-1")]).closed is False
    assert gate(Stage.INFRA_REVIEW, findings=[finding("F-1", status=FindingStatus.RESOLVED)]).closed is False
    resolved = [finding("F-1", status=FindingStatus.RESOLVED)]
    assert gate(Stage.INFRA_REVIEW, approvals=approved, findings=resolved).closed is True


def test_closed_at_it_signoff_needs_every_required_role() -> None:
    one = [approval("olga@example.com", Role.IT_OPERATIONS)]
    both = [*one, approval("beth@example.com", Role.BUSINESS_OWNER)]

    assert gate(Stage.IT_SIGNOFF, approvals=one).closed is False
    assert gate(Stage.IT_SIGNOFF, approvals=both).closed is True


def test_rollout_is_never_closed_by_approvals() -> None:
    assert gate(Stage.ROLLOUT, required_roles=[]).closed is False


# --- refuse_approve -------------------------------------------------------------------------------


def test_approve_with_stale_stage_guard_is_refused() -> None:
    reason = refuse_approve(gate(Stage.POC), approve("bob@example.com", Role.BUSINESS_OWNER, stage=Stage.PROPOSED))

    assert reason == (
        "this approval was meant for stage proposed, but the initiative is now at poc; reload and decide again"
    )


@pytest.mark.parametrize("stage", [Stage.PRODUCTION, Stage.SCRAPPED])
def test_approve_at_terminal_stage_is_refused(stage: Stage) -> None:
    reason = refuse_approve(gate(stage), approve("paula@example.com", Role.PORTFOLIO))

    assert reason == f"initiative is already {stage.value}; no further approval is possible"


def test_approve_at_rollout_is_refused_because_it_has_no_gate() -> None:
    reason = refuse_approve(gate(Stage.ROLLOUT), approve("olga@example.com", Role.IT_OPERATIONS))

    assert reason == "stage rollout has no gate to approve; it advances by itself"


def test_approve_with_a_role_the_stage_does_not_need_lists_the_needed_roles() -> None:
    reason = refuse_approve(gate(Stage.IT_SIGNOFF), approve("paula@example.com", Role.PORTFOLIO))

    assert reason == "role portfolio does not decide stage it_signoff; it needs: it_operations, business_owner"


def test_approve_by_someone_not_on_the_roster_for_the_role_is_refused() -> None:
    reason = refuse_approve(gate(Stage.PROPOSED), approve("sam@example.com", Role.PORTFOLIO))

    assert reason == "sam@example.com is not on the roster for role portfolio"


def test_submitter_may_not_approve_their_own_initiative() -> None:
    # alice submitted the initiative and is also on the compliance roster.
    ctx = gate(Stage.IT_SIGNOFF, required_roles=[Role.IT_OPERATIONS, Role.BUSINESS_OWNER, Role.COMPLIANCE])

    reason = refuse_approve(ctx, approve(SUBMITTER, Role.COMPLIANCE))

    assert reason == f"{SUBMITTER} submitted this initiative and may not approve it (separation of duties)"


def test_same_person_may_not_fill_two_roles_of_a_joint_signoff() -> None:
    # bob is on the roster for both it_operations and business_owner.
    ctx = gate(Stage.IT_SIGNOFF, approvals=[approval("bob@example.com", Role.IT_OPERATIONS)])

    assert refuse_approve(ctx, approve("beth@example.com", Role.BUSINESS_OWNER)) is None
    reason = refuse_approve(ctx, approve("bob@example.com", Role.BUSINESS_OWNER))

    assert reason == (
        "bob@example.com has already approved stage it_signoff as it_operations; a joint sign-off needs distinct people"
    )


def test_role_already_approved_by_someone_else_is_refused() -> None:
    ctx = gate(Stage.IT_SIGNOFF, approvals=[approval("olga@example.com", Role.IT_OPERATIONS)])

    reason = refuse_approve(ctx, approve("bob@example.com", Role.IT_OPERATIONS))

    assert reason == "role it_operations has already approved stage it_signoff (olga@example.com)"


def test_poc_approval_before_results_meet_criteria_is_refused() -> None:
    reason = refuse_approve(gate(Stage.POC, poc_met=False), approve("bob@example.com", Role.BUSINESS_OWNER))

    assert reason == "PoC results meeting the success criteria must be submitted before the PoC can be approved"


def test_infra_approval_with_open_blocking_findings_names_them() -> None:
    findings = [
        finding("F-1"),
        finding("F-2", blocking=False),
        finding("F-3", status=FindingStatus.WAIVED),
        finding("F-4"),
    ]
    ctx = gate(Stage.INFRA_REVIEW, findings=findings)

    reason = refuse_approve(ctx, approve("ian@example.com", Role.INFRASTRUCTURE))

    assert reason == "blocking findings are still open (F-1, F-4); resolve or waive them before approving"


@pytest.mark.parametrize(
    ("ctx", "inp"),
    [
        (gate(Stage.PROPOSED), approve("paula@example.com", Role.PORTFOLIO)),
        (gate(Stage.PROPOSED), approve("Paula@Example.com", Role.PORTFOLIO, stage=Stage.PROPOSED)),
        (gate(Stage.POC, poc_met=True), approve("beth@example.com", Role.BUSINESS_OWNER, stage=Stage.POC)),
        (
            gate(
                Stage.INFRA_REVIEW,
                findings=[finding("F-1", status=FindingStatus.RESOLVED), finding("F-2", blocking=False)],
            ),
            approve("ian@example.com", Role.INFRASTRUCTURE),
        ),
        (
            gate(Stage.IT_SIGNOFF, approvals=[approval("olga@example.com", Role.IT_OPERATIONS)]),
            approve("bob@example.com", Role.BUSINESS_OWNER),
        ),
    ],
    ids=["proposed", "proposed-guarded", "poc-met", "infra-settled", "it-signoff-second"],
)
def test_acceptable_approval_returns_none(ctx: GateContext, inp: ApproveInput) -> None:
    assert refuse_approve(ctx, inp) is None


# --- refuse_reject --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ctx", "inp", "expected"),
    [
        (
            gate(Stage.SCRAPPED),
            reject("paula@example.com", Role.PORTFOLIO),
            "initiative is already scrapped; no further rejection is possible",
        ),
        (
            gate(Stage.INFRA_REVIEW),
            reject("bob@example.com", Role.BUSINESS_OWNER, stage=Stage.POC),
            (
                "this rejection was meant for stage poc, but the initiative is now at infra_review; "
                "reload and decide again"
            ),
        ),
        (
            gate(Stage.ROLLOUT),
            reject("olga@example.com", Role.IT_OPERATIONS),
            "stage rollout has no gate to reject; it advances by itself",
        ),
        (
            gate(Stage.POC),
            reject("paula@example.com", Role.PORTFOLIO),
            "role portfolio does not decide stage poc; it needs: business_owner",
        ),
        (
            gate(Stage.POC),
            reject("olga@example.com", Role.BUSINESS_OWNER),
            "olga@example.com is not on the roster for role business_owner",
        ),
        (
            gate(Stage.IT_SIGNOFF, required_roles=[Role.COMPLIANCE]),
            reject(SUBMITTER, Role.COMPLIANCE),
            f"{SUBMITTER} submitted this initiative and may not reject it (separation of duties)",
        ),
    ],
    ids=["terminal", "stale", "rollout", "role-not-needed", "not-on-roster", "submitter"],
)
def test_reject_refusals(ctx: GateContext, inp: RejectInput, expected: str) -> None:
    assert refuse_reject(ctx, inp) == expected


def test_reject_at_poc_without_results_is_accepted() -> None:
    assert refuse_reject(gate(Stage.POC), reject("bob@example.com", Role.BUSINESS_OWNER, stage=Stage.POC)) is None


# --- refuse_poc_results ---------------------------------------------------------------------------


@pytest.mark.parametrize("stage", [Stage.PROPOSED, Stage.INFRA_REVIEW, Stage.ROLLOUT])
def test_poc_results_outside_poc_are_refused(stage: Stage) -> None:
    assert refuse_poc_results(gate(stage), poc_results()) == (
        f"PoC results are accepted only in stage poc; the initiative is at {stage.value}"
    )


def test_poc_results_after_criteria_are_met_are_refused() -> None:
    assert refuse_poc_results(gate(Stage.POC, poc_met=True), poc_results()) == (
        "PoC results already meet the success criteria; waiting for the business owner's approval"
    )


def test_poc_results_at_terminal_stage_and_with_stale_guard_are_refused() -> None:
    assert refuse_poc_results(gate(Stage.PRODUCTION), poc_results()) == (
        "initiative is already production; no further PoC result submission is possible"
    )
    assert refuse_poc_results(gate(Stage.INFRA_REVIEW), poc_results(stage=Stage.POC)) == (
        "this PoC result submission was meant for stage poc, but the initiative is now at infra_review; "
        "reload and decide again"
    )


def test_poc_results_at_poc_before_criteria_are_met_are_accepted() -> None:
    assert refuse_poc_results(gate(Stage.POC), poc_results(stage=Stage.POC)) is None


# --- refuse_scrap ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", [Stage.PRODUCTION, Stage.SCRAPPED])
def test_scrap_at_terminal_stage_is_refused(stage: Stage) -> None:
    assert refuse_scrap(gate(stage), scrap()) == f"initiative is already {stage.value}; no further scrap is possible"


def test_scrap_with_stale_stage_guard_is_refused() -> None:
    assert refuse_scrap(gate(Stage.IT_SIGNOFF), scrap(stage=Stage.INFRA_REVIEW)) == (
        "this scrap was meant for stage infra_review, but the initiative is now at it_signoff; reload and decide again"
    )


@pytest.mark.parametrize("stage", [Stage.PROPOSED, Stage.POC, Stage.INFRA_REVIEW, Stage.IT_SIGNOFF, Stage.ROLLOUT])
def test_scrap_at_any_live_stage_is_accepted(stage: Stage) -> None:
    assert refuse_scrap(gate(stage), scrap()) is None
    assert refuse_scrap(gate(stage), scrap(stage=stage)) is None


@pytest.mark.parametrize("stage", [Stage.ROLLOUT])
def test_hold_is_refused_where_no_gate_waits(stage: Stage) -> None:
    inp = HoldInput(actor=SUBMITTER, reason_code=ReasonCode.BUDGET_CUT)
    assert refuse_hold(gate(stage), inp) == (
        "stage rollout runs by itself and cannot be held; scrap the initiative to stop it"
    )
    assert refuse_hold(gate(Stage.POC), inp) is None
    assert refuse_hold(gate(Stage.POC, on_hold=True), inp) == "the initiative is already on hold"


# ------------------------------------------------------------------ what the gate waits for from the team


@pytest.mark.parametrize(
    ("ctx", "blocked", "expected"),
    [
        (gate(Stage.PROPOSED), False, None),
        (gate(Stage.PROPOSED), True, TeamAction.CLEAR_BLOCKER),
        (gate(Stage.POC), False, TeamAction.SUBMIT_POC_RESULTS),
        (gate(Stage.POC), True, TeamAction.SUBMIT_POC_RESULTS),  # results first: they may be the blocker
        (gate(Stage.POC, poc_met=True), False, None),
        (gate(Stage.INFRA_REVIEW, findings=[finding("F1")]), False, TeamAction.RESOLVE_FINDINGS),
        (gate(Stage.INFRA_REVIEW, findings=[finding("F1", blocking=False)]), False, None),
        (gate(Stage.INFRA_REVIEW, findings=[finding("F1", status=FindingStatus.WAIVED)]), False, None),
        (gate(Stage.POC, on_hold=True), True, None),  # on hold nobody is waited for
        (gate(Stage.ROLLOUT), True, None),  # no gate: the rollout advances by itself
    ],
)
def test_team_action(ctx: GateContext, blocked: bool, expected: TeamAction | None) -> None:
    assert team_action(ctx, blocked=blocked) is expected


# ---------------------------------------------------------------------------- decisions by a delegate


def on_behalf(delegate: str, person: str, role: Role, *, signed: bool = True) -> ApproveInput:
    return ApproveInput(approver=delegate, role=role, on_behalf_of=person, token="v2.x.y" if signed else None)


def test_a_delegate_approves_in_the_role_of_the_person_they_act_for() -> None:
    # dana is on no roster: paula's delegation lets her decide as portfolio (the API checked it when signing)
    assert (
        refuse_approve(gate(Stage.PROPOSED), on_behalf("dana@example.com", "paula@example.com", Role.PORTFOLIO)) is None
    )


def test_unsigned_the_person_must_be_on_the_roster_as_for_any_decision() -> None:
    # without approval tokens (a development stack) typed names are trusted alike; the roster still applies
    ctx = gate(Stage.PROPOSED)
    assert refuse_approve(ctx, on_behalf("dana@example.com", "paula@example.com", Role.PORTFOLIO, signed=False)) is None
    reason = refuse_approve(ctx, on_behalf("dana@example.com", "sam@example.com", Role.PORTFOLIO, signed=False))
    assert reason == "sam@example.com is not on the roster for role portfolio"


def test_acting_for_someone_off_the_roster_gives_no_role() -> None:
    reason = refuse_approve(gate(Stage.PROPOSED), on_behalf("dana@example.com", "sam@example.com", Role.PORTFOLIO))

    assert reason == "sam@example.com is not on the roster for role portfolio"


def test_nobody_acts_on_their_own_behalf() -> None:
    reason = refuse_approve(gate(Stage.PROPOSED), on_behalf("paula@example.com", "paula@example.com", Role.PORTFOLIO))

    assert reason == "paula@example.com cannot act on their own behalf; leave on_behalf_of out"


def test_separation_of_duties_applies_to_the_delegate_and_to_the_person() -> None:
    # the submitter may not approve as someone's delegate ...
    reason = refuse_approve(gate(Stage.PROPOSED), on_behalf(SUBMITTER, "paula@example.com", Role.PORTFOLIO))
    assert reason == f"{SUBMITTER} submitted this initiative and may not approve it (separation of duties)"
    # ... nor may anyone approve on the submitter's behalf (alice is on the compliance roster)
    ctx = gate(Stage.IT_SIGNOFF, required_roles=[Role.IT_OPERATIONS, Role.COMPLIANCE])
    reason = refuse_approve(ctx, on_behalf("dana@example.com", SUBMITTER, Role.COMPLIANCE))
    assert reason == f"{SUBMITTER} submitted this initiative and may not approve it (separation of duties)"


def test_a_delegate_fills_one_role_of_a_joint_signoff_at_most() -> None:
    # bob approved as it_operations himself; as beth's delegate he may not fill business_owner too
    ctx = gate(Stage.IT_SIGNOFF, approvals=[approval("bob@example.com", Role.IT_OPERATIONS)])
    reason = refuse_approve(ctx, on_behalf("bob@example.com", "beth@example.com", Role.BUSINESS_OWNER))
    assert reason == (
        "bob@example.com has already approved stage it_signoff as it_operations; a joint sign-off needs distinct "
        "people (a delegate counts as the person they act for, too)"
    )
    # dana approved as it_operations for bob; bob may not then approve business_owner in his own name
    acted = Approval(
        approver="dana@example.com",
        role=Role.IT_OPERATIONS,
        at="2026-01-01T00:00:00+00:00",
        on_behalf_of="bob@example.com",
    )
    ctx = gate(Stage.IT_SIGNOFF, approvals=[acted], required_roles=[Role.IT_OPERATIONS, Role.BUSINESS_OWNER])
    reason = refuse_approve(ctx, ApproveInput(approver="bob@example.com", role=Role.BUSINESS_OWNER))
    assert reason is not None
    assert reason.startswith("bob@example.com has already approved stage it_signoff as it_operations")
    # and beth, untouched by either, may
    assert refuse_approve(ctx, ApproveInput(approver="beth@example.com", role=Role.BUSINESS_OWNER)) is None
