"""Validators refuse invalid decisions with a reason, and nothing reaches the workflow's history."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from schemas.classification import RiskTier
from schemas.contract import DECISION_REFUSED
from schemas.decisions import (
    ApproveInput,
    HoldInput,
    ReportBlockerInput,
    ResumeInput,
    ScrapInput,
    SubmitPocResultsInput,
)
from schemas.policy import Policy
from schemas.stages import Role, Stage
from schemas.taxonomy import ReasonCode
from tests.conftest import SUBMITTER, make_start
from tests.workflows.helpers import accepted_update_count, start, update


async def _refused(handle: WorkflowHandle[Any, Any], name: str, payload: object) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await handle.execute_update(name, payload)
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == DECISION_REFUSED
    return cause.message


async def _at_it_signoff(client: Client, task_queue: str, policy: Policy, **spec: object) -> WorkflowHandle[Any, Any]:
    handle = await start(client, task_queue, make_start(policy, **spec))
    await update(handle, "approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO))
    await update(handle, "submit_poc_results", SubmitPocResultsInput(actor=SUBMITTER, metrics={"auc": 0.9}))
    await update(handle, "approve", ApproveInput(approver="bob@example.com", role=Role.BUSINESS_OWNER))
    view = await update(handle, "approve", ApproveInput(approver="ian@example.com", role=Role.INFRASTRUCTURE))
    assert view.stage is Stage.IT_SIGNOFF
    return handle


async def test_each_refusal_names_its_reason_and_leaves_no_trace(
    client: Client, task_queue: str, policy: Policy
) -> None:
    handle = await start(client, task_queue, make_start(policy))

    # an action the current stage does not accept
    message = await _refused(handle, "submit_poc_results", SubmitPocResultsInput(actor=SUBMITTER, metrics={"auc": 0.9}))
    assert "accepted only in stage poc" in message
    # a role the gate does not need
    message = await _refused(handle, "approve", ApproveInput(approver="ian@example.com", role=Role.INFRASTRUCTURE))
    assert message == "role infrastructure does not decide stage proposed; it needs: portfolio"
    # an approver not on the roster for that role
    message = await _refused(handle, "approve", ApproveInput(approver="eve@example.com", role=Role.PORTFOLIO))
    assert message == "eve@example.com is not on the roster for role portfolio"
    # a click on a stage that has moved on
    message = await _refused(
        handle, "approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO, stage=Stage.POC)
    )
    assert "meant for stage poc" in message
    assert await accepted_update_count(handle) == 0

    await update(handle, "approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO))
    # approving the PoC before results meet the criteria
    message = await _refused(handle, "approve", ApproveInput(approver="bob@example.com", role=Role.BUSINESS_OWNER))
    assert "PoC results meeting the success criteria must be submitted" in message
    assert await accepted_update_count(handle) == 1


async def test_separation_of_duties_at_joint_signoff(client: Client, task_queue: str, policy: Policy) -> None:
    handle = await _at_it_signoff(client, task_queue, policy)
    accepted = await accepted_update_count(handle)

    # the submitter may not approve their own initiative, even holding a role the gate needs
    high = await _at_it_signoff(client, task_queue, policy, risk_tier=RiskTier.HIGH)
    message = await _refused(high, "approve", ApproveInput(approver=SUBMITTER, role=Role.COMPLIANCE))
    assert message == f"{SUBMITTER} submitted this initiative and may not approve it (separation of duties)"

    # bob is on the roster for both it_operations and business_owner: one person, one approval
    await update(handle, "approve", ApproveInput(approver="bob@example.com", role=Role.IT_OPERATIONS))
    message = await _refused(handle, "approve", ApproveInput(approver="bob@example.com", role=Role.BUSINESS_OWNER))
    assert "bob@example.com has already approved stage it_signoff as it_operations" in message
    # the same role twice
    message = await _refused(handle, "approve", ApproveInput(approver="olga@example.com", role=Role.IT_OPERATIONS))
    assert message == "role it_operations has already approved stage it_signoff (bob@example.com)"
    assert await accepted_update_count(handle) == accepted + 1


async def test_high_risk_needs_security_and_compliance(client: Client, task_queue: str, policy: Policy) -> None:
    handle = await _at_it_signoff(client, task_queue, policy, risk_tier=RiskTier.HIGH)
    view = await update(handle, "approve", ApproveInput(approver="olga@example.com", role=Role.IT_OPERATIONS))
    view = await update(handle, "approve", ApproveInput(approver="beth@example.com", role=Role.BUSINESS_OWNER))
    assert view.stage is Stage.IT_SIGNOFF
    assert view.awaiting_roles == ["security", "compliance"]
    view = await update(handle, "approve", ApproveInput(approver="sam@example.com", role=Role.SECURITY))
    view = await update(handle, "approve", ApproveInput(approver="carl@example.com", role=Role.COMPLIANCE))
    assert view.stage in (Stage.ROLLOUT, Stage.PRODUCTION)


async def test_raw_json_update_as_the_web_ui_sends_it(client: Client, task_queue: str, policy: Policy) -> None:
    """The Web UI sends a plain JSON object; unknown fields are refused, a good payload is accepted."""
    handle = await start(client, task_queue, make_start(policy))
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update("approve", {"aprover": "paula@example.com", "role": "portfolio"})
    message = await _refused(handle, "approve", {"approver": "ian@example.com", "role": "infrastructure"})
    assert "does not decide stage proposed" in message
    assert await accepted_update_count(handle) == 0
    view = await update(handle, "approve", {"approver": "Paula@Example.com", "role": "portfolio", "stage": "proposed"})
    assert view.stage is Stage.POC
    assert view.visited == [Stage.PROPOSED, Stage.POC]


def _raw_json(text: str) -> RawValue:
    """A payload as the Web UI sends it: JSON text, here with escapes and tokens Python would not write."""
    return RawValue(Payload(metadata={"encoding": b"json/plain"}, data=text.encode("utf-8")))


@pytest.mark.parametrize(
    ("name", "text", "field"),
    [
        ("approve", '{"approver": "paula@example.com", "role": "portfolio", "comment": "ok\\u0000"}', "comment"),
        (
            "report_blocker",
            '{"actor": "alice@example.com", "reason_code": "BUDGET_CUT", "detail": "x\\u0000"}',
            "detail",
        ),
    ],
)
async def test_unstorable_text_is_refused_in_the_validator(
    client: Client, task_queue: str, policy: Policy, name: str, text: str, field: str
) -> None:
    handle = await start(client, task_queue, make_start(policy))
    message = await _refused(handle, name, _raw_json(text))
    assert message.startswith(f"this decision cannot be recorded: {field} must not contain")
    assert await accepted_update_count(handle) == 0
    view = await update(handle, "approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO))
    assert view.stage is Stage.POC


async def test_unpaired_surrogates_are_refused_at_decoding(client: Client, task_queue: str, policy: Policy) -> None:
    handle = await start(client, task_queue, make_start(policy))
    text = '{"approver": "paula@example.com", "role": "portfolio", "comment": "\\ud800"}'
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await handle.execute_update("approve", _raw_json(text))
    assert "decod" in str(info.value.cause).lower()
    assert await accepted_update_count(handle) == 0
    view = await update(handle, "approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO))
    assert view.stage is Stage.POC


async def test_non_finite_numbers_are_refused_and_the_initiative_moves_on(
    client: Client, task_queue: str, policy: Policy
) -> None:
    handle = await start(client, task_queue, make_start(policy))
    await update(handle, "approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO))
    for text, field in [
        ('{"actor": "alice@example.com", "metrics": {"auc": 0.9}, "spend_usd": 1e999}', "spend_usd"),
        ('{"actor": "alice@example.com", "metrics": {"auc": NaN}}', "metrics.auc"),
        ('{"actor": "alice@example.com", "metrics": {"auc": 0.9}, "spend_usd": 1e308}', "spend_usd"),
    ]:
        message = await _refused(handle, "submit_poc_results", _raw_json(text))
        assert message.startswith(f"this decision cannot be recorded: {field} must be")
    view = await update(handle, "submit_poc_results", SubmitPocResultsInput(actor=SUBMITTER, metrics={"auc": 0.9}))
    assert view.poc is not None
    assert view.poc.met


async def test_team_actions_are_for_the_pinned_team(client: Client, task_queue: str, policy: Policy) -> None:
    """Hole 2: the workflow itself refuses a team action by someone off the team (and off the roles that may)."""
    inp = make_start(policy).model_copy(update={"team_actors": [SUBMITTER]})
    handle = await start(client, task_queue, inp)
    message = await _refused(
        handle, "scrap", ScrapInput(actor="mallory@example.com", reason_code=ReasonCode.BUDGET_CUT)
    )
    assert message == (
        "mallory@example.com is not a member of team 'ml-platform', nor holds role portfolio; only they may scrap"
    )
    message = await _refused(
        handle, "report_blocker", ReportBlockerInput(actor="vic@example.com", reason_code=ReasonCode.BUDGET_CUT)
    )
    assert message == "vic@example.com is not a member of team 'ml-platform'; only they may report blocker"
    held = await update(handle, "hold", HoldInput(actor="paula@example.com", reason_code=ReasonCode.BUDGET_CUT))
    assert held.hold is not None
    resumed = await update(handle, "resume", ResumeInput(actor=SUBMITTER))
    assert resumed.hold is None
    assert await accepted_update_count(handle) == 2
