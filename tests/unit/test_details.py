"""The approver's desk: Markdown details and ready-to-paste update payloads."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel

from schemas.decisions import (
    Approval,
    ApproveInput,
    Hold,
    HoldInput,
    RejectInput,
    ReportBlockerInput,
    RequestChangesInput,
    ResolveFindingInput,
    ResumeInput,
    ScrapInput,
    SubmitPocResultsInput,
    WaiveFindingInput,
)
from schemas.findings import Finding, FindingStatus
from schemas.stages import InitiativeStatus, Role, Stage
from schemas.status import InitiativeStatusView, PocEvaluation, Stall
from schemas.taxonomy import ReasonCode
from tests.conftest import ROSTER, SUBMITTER
from workflows.details import action_payloads, render_details

NOW = datetime(2026, 1, 3, 6, 30, tzinfo=UTC)

PAYLOAD_MODELS: dict[str, type[BaseModel]] = {
    "approve": ApproveInput,
    "reject": RejectInput,
    "request_changes": RequestChangesInput,
    "submit_poc_results": SubmitPocResultsInput,
    "waive_finding": WaiveFindingInput,
    "resolve_finding": ResolveFindingInput,
    "report_blocker": ReportBlockerInput,
    "hold": HoldInput,
    "resume": ResumeInput,
    "scrap": ScrapInput,
}
TEAM_ACTIONS = ["report_blocker", "hold", "scrap"]


def view(stage: Stage, **overrides: Any) -> InitiativeStatusView:
    data: dict[str, Any] = {
        "id": "abc123",
        "workflow_id": "initiative-abc123",
        "title": "Churn prediction",
        "team": "ml-platform",
        "business_unit": "retail",
        "sponsor": "cfo@example.com",
        "submitter": SUBMITTER,
        "risk_tier": "limited",
        "policy_version": "2026.11-default",
        "stage": stage,
        "status": InitiativeStatus.ACTIVE,
        "stage_entered_at": "2026-01-01T00:00:00+00:00",
        "awaiting_roles": [],
        "approvals": [],
        "findings": [],
    }
    data.update(overrides)
    return InitiativeStatusView.model_validate(data)


def poc(*, met: bool) -> PocEvaluation:
    return PocEvaluation(
        metrics={"auc": 0.85 if met else 0.7},
        spend_usd=1000,
        summary="done",
        met=met,
        unmet=[] if met else ["auc >= 0.8 (got 0.7)"],
        submitted_by="team@example.com",
        at="2026-02-01T00:00:00+00:00",
    )


def payloads_in(markdown: str) -> dict[str, Any]:
    """Every ``**name**`` followed by a fenced JSON block, parsed."""
    lines = markdown.splitlines()
    found: dict[str, Any] = {}
    for i, line in enumerate(lines):
        if line == "```json":
            name = lines[i - 1].strip("*")
            assert lines[i + 2] == "```"
            found[name] = json.loads(lines[i + 1])
    return found


def render(v: InitiativeStatusView, awaiting: Sequence[Role]) -> str:
    return render_details(v, awaiting, ROSTER, NOW)


def test_proposed_names_stage_needs_people_and_approve_payload() -> None:
    md = render(view(Stage.PROPOSED, awaiting_roles=["portfolio"]), [Role.PORTFOLIO])

    assert md.splitlines()[0] == "## Churn prediction"
    assert "**Stage:** `proposed`" in md
    assert "- approval by role `portfolio`" in md
    assert "### Who may act\n- `portfolio`: paula@example.com" in md
    payloads = payloads_in(md)
    assert list(payloads) == ["approve", "reject", *TEAM_ACTIONS]
    assert payloads["approve"] == {
        "approver": "you@example.com",
        "role": "portfolio",
        "stage": "proposed",
        "comment": "",
    }
    assert payloads["reject"]["role"] == "portfolio"
    assert payloads["scrap"]["stage"] == "proposed"


def test_markdown_payloads_are_the_action_payloads() -> None:
    v = view(Stage.PROPOSED)

    assert payloads_in(render(v, [Role.PORTFOLIO])) == action_payloads(v, [Role.PORTFOLIO])


@pytest.mark.parametrize(
    ("v", "awaiting"),
    [
        (view(Stage.PROPOSED), [Role.PORTFOLIO]),
        (view(Stage.POC), [Role.BUSINESS_OWNER]),
        (view(Stage.POC, poc=poc(met=True)), [Role.BUSINESS_OWNER]),
        (view(Stage.IT_SIGNOFF), [Role.IT_OPERATIONS, Role.BUSINESS_OWNER]),
        (view(Stage.ROLLOUT), []),
    ],
    ids=["proposed", "poc", "poc-met", "it_signoff", "rollout"],
)
def test_every_payload_is_accepted_by_its_update_model(v: InitiativeStatusView, awaiting: list[Role]) -> None:
    payloads = action_payloads(v, awaiting)

    assert payloads
    for name, data in payloads.items():
        parsed = PAYLOAD_MODELS[name.split(" ")[0]].model_validate(data)
        assert getattr(parsed, "stage", None) is v.stage


def test_poc_without_results_offers_submission_and_no_approval() -> None:
    md = render(view(Stage.POC), [Role.BUSINESS_OWNER])

    assert "- PoC results (`submit_poc_results`) meeting the success criteria" in md
    payloads = payloads_in(md)
    assert list(payloads) == ["reject", "request_changes", "submit_poc_results", *TEAM_ACTIONS]
    assert payloads["submit_poc_results"]["stage"] == "poc"
    assert payloads["submit_poc_results"]["metrics"] == {"metric_name": 0.0}


def test_poc_with_unmet_results_lists_what_is_unmet_and_offers_resubmission() -> None:
    md = render(view(Stage.POC, poc=poc(met=False)), [Role.BUSINESS_OWNER])

    assert "- PoC results meeting the criteria; unmet: auc \\>= 0.8 \\(got 0.7\\)" in md
    assert list(payloads_in(md)) == ["reject", "request_changes", "submit_poc_results", *TEAM_ACTIONS]


def test_poc_with_results_met_offers_approval_by_business_owner() -> None:
    md = render(view(Stage.POC, poc=poc(met=True)), [Role.BUSINESS_OWNER])

    assert "PoC results" not in md.split("### The gate still needs")[1].split("###")[0]
    payloads = payloads_in(md)
    assert list(payloads) == ["approve", "reject", "request_changes", *TEAM_ACTIONS]
    assert payloads["approve"]["role"] == "business_owner"
    assert payloads["approve"]["stage"] == "poc"


def test_infra_review_lists_open_blocking_findings_only() -> None:
    findings = [
        Finding(
            id="F-1",
            rule="containerized",
            blocking=True,
            message="not containerized",
            reason_code=ReasonCode.PLATFORM_MISALIGNED,
        ),
        Finding(
            id="F-2",
            rule="storage",
            blocking=False,
            message="too much storage",
            reason_code=ReasonCode.CAPACITY_QUOTA_UNAVAILABLE,
        ),
        Finding(
            id="F-3",
            rule="budget",
            blocking=True,
            status=FindingStatus.WAIVED,
            message="over budget",
            reason_code=ReasonCode.PROD_COST_OVER_BUDGET,
        ),
    ]

    md = render(view(Stage.INFRA_REVIEW, findings=findings), [Role.INFRASTRUCTURE])

    needs = md.split("### The gate still needs")[1].split("###")[0]
    assert "- blocking finding **F-1** resolved or waived: not containerized" in needs
    assert "F-2" not in needs
    assert "F-3" not in needs
    assert "- **F-2** (warning, open): too much storage" in md
    assert "- **F-3** (blocking, waived): over budget" in md
    assert "- approval by role `infrastructure`" in md


def test_it_signoff_shows_approvals_so_far_and_who_may_act_for_the_rest() -> None:
    approvals = [Approval(approver="olga@example.com", role=Role.IT_OPERATIONS, at="2026-03-01T00:00:00+00:00")]

    md = render(view(Stage.IT_SIGNOFF, approvals=approvals), [Role.BUSINESS_OWNER])

    assert "### Approved so far\n- `it_operations`: olga@example.com" in md
    assert "### Who may act\n- `business_owner`: bob@example.com, beth@example.com" in md
    assert "- approval by role `it_operations`" not in md
    assert payloads_in(md)["approve"]["role"] == "business_owner"


def test_role_without_roster_entry_says_nobody() -> None:
    md = render_details(view(Stage.PROPOSED), [Role.PORTFOLIO], {}, NOW)

    assert "- `portfolio`: nobody eligible on the roster" in md


def test_rollout_waits_for_the_child_workflow_and_offers_only_scrap() -> None:
    md = render(view(Stage.ROLLOUT), [])

    assert "- the rollout (child workflow) to succeed" in md
    assert "### Who may act" not in md
    assert list(payloads_in(md)) == TEAM_ACTIONS


def test_scrapped_view_shows_the_reason_and_no_payloads() -> None:
    v = view(
        Stage.SCRAPPED,
        status=InitiativeStatus.SCRAPPED,
        reason_code=ReasonCode.BIZ_PRIORITY_CHANGED,
        reason_detail="merged into the CRM programme",
    )

    md = render(v, [])

    assert (
        md.splitlines()[-1] == "Ended at `scrapped` with reason `BIZ_PRIORITY_CHANGED`: merged into the CRM programme"
    )
    assert "```json" not in md
    assert "### The gate still needs" not in md
    assert action_payloads(v, [Role.PORTFOLIO]) == {}


def test_production_view_without_reason_just_says_where_it_ended() -> None:
    md = render(view(Stage.PRODUCTION, status=InitiativeStatus.PRODUCTION), [])

    assert md.splitlines()[-1] == "Ended at `production`"
    assert "```json" not in md


def test_clock_shows_time_in_stage_and_sla() -> None:
    v = view(Stage.PROPOSED).model_copy(update={"sla_due_at": "2026-01-15T00:00:00+00:00"})
    md = render_details(v, [Role.PORTFOLIO], ROSTER, NOW)
    assert "**In stage for:** 2d 6h (since 2026-01-01T00:00)" in md
    assert "**SLA due:** 2026-01-15T00:00 (11d 17h left)" in md
    late = render_details(v, [Role.PORTFOLIO], ROSTER, datetime(2026, 1, 16, tzinfo=UTC))
    assert "overdue by 1d 0h" in late


def test_on_hold_offers_only_resume_and_scrap() -> None:
    held = Hold(
        reason_code=ReasonCode.BUDGET_CUT, detail="q3 freeze", actor=SUBMITTER, since="2026-01-02T00:00:00+00:00"
    )
    v = view(Stage.POC, hold=held, status=InitiativeStatus.ON_HOLD)
    md = render(v, [Role.BUSINESS_OWNER])
    assert list(payloads_in(md)) == ["resume", "scrap"]
    assert "SLA clock paused (on hold)" in md
    assert "`resume`: on hold since 2026-01-02T00:00 (BUDGET_CUT)" in md


def test_infra_review_offers_waive_and_resolve_per_open_finding() -> None:
    open_finding = Finding(
        id="F-1", rule="budget", blocking=True, message="too expensive", reason_code=ReasonCode.PROD_COST_OVER_BUDGET
    )
    done = open_finding.model_copy(update={"id": "F-2", "status": FindingStatus.WAIVED})
    payloads = action_payloads(view(Stage.INFRA_REVIEW, findings=[open_finding, done]), [Role.INFRASTRUCTURE])
    assert "approve" not in payloads
    assert payloads["waive_finding (F-1)"]["finding_id"] == "F-1"
    assert payloads["resolve_finding (F-1)"]["finding_id"] == "F-1"
    assert not any("F-2" in name for name in payloads)
    for name, data in payloads.items():
        PAYLOAD_MODELS[name.split(" ")[0]].model_validate(data)


def test_a_stall_is_shown_with_reason_and_escalation() -> None:
    stall = Stall(
        reason_code=ReasonCode.APPROVAL_PENDING,
        detail="waiting for approval by portfolio",
        since="2026-01-15T00:00:00+00:00",
        escalation_level=1,
        owners=["paula@example.com"],
    )
    md = render(view(Stage.PROPOSED, stall=stall, status=InitiativeStatus.STALLED), [Role.PORTFOLIO])
    assert (
        "**STALLED** since 2026-01-15T00:00: `APPROVAL_PENDING` waiting for approval by portfolio "
        "(escalation level 1; owners: paula@example.com)"
    ) in md


def test_text_people_typed_cannot_draw_sections_links_or_payloads() -> None:
    """A title, a team, a blocker and a finding id written to forge an approval prompt stay literal text."""
    forged = "**approve** [click](http://evil.example) <img src=x onerror=alert(1)>\n### Actions\n```json"
    finding = Finding(
        id="F`1```", rule="budget", blocking=True, message=forged, reason_code=ReasonCode.PROD_COST_OVER_BUDGET
    )
    v = view(Stage.INFRA_REVIEW, title=forged, team="ml_[team](http://x)", findings=[finding])

    md = render(v, [Role.INFRASTRUCTURE])

    assert md.splitlines()[0] == (
        "## \\*\\*approve\\*\\* \\[click\\]\\(http://evil.example\\) \\<img src=x onerror=alert\\(1\\)\\>"
        " \\#\\#\\# Actions \\`\\`\\`json"
    )
    assert "**Team:** ml\\_\\[team\\]\\(http://x\\)" in md
    assert md.count("### Actions") == 1  # only the real heading starts a line
    assert not re.search(r"(?<!\\)[<\[]", md), "an unescaped tag or link opener reached the Markdown"
    # Every fence still holds exactly one JSON object: the finding id cannot close it early.
    payloads = payloads_in(md)
    assert payloads["waive_finding \\(F\\`1\\`\\`\\`\\)"]["finding_id"] == "F`1```"
    assert all("`" not in line for line in md.splitlines() if line.startswith("{"))
