"""Signed approval tokens verified by the worker before validators run."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from schemas.classification import RiskTier
from schemas.contract import DECISION_REFUSED
from schemas.decisions import ApproveInput, HoldInput, ReportBlockerInput, ScrapInput, SubmitPocResultsInput
from schemas.policy import Policy
from schemas.stages import Role
from schemas.taxonomy import ReasonCode
from tests.conftest import SUBMITTER, make_start
from tests.workflows.conftest import SECRET
from tests.workflows.helpers import accepted_update_count, start, update
from tests.workflows.helpers import sign_payload as _sign


async def _refused(handle: WorkflowHandle[Any, Any], name: str, payload: object) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await handle.execute_update(name, payload)
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == DECISION_REFUSED
    assert cause.failure is None or not cause.failure.stack_trace
    return cause.message


async def test_every_bad_token_is_refused_and_a_good_one_accepted(
    client: Client, secured_queue: str, pool: asyncpg.Pool, policy: Policy
) -> None:
    inp = make_start(policy)
    iid = inp.initiative_id
    handle = await start(client, secured_queue, inp, secret=SECRET)

    paula = ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO)
    assert "token is required" in await _refused(handle, "approve", paula)
    forged = _sign(iid, paula, secret=b"guessed")
    assert "signature is invalid" in await _refused(handle, "approve", forged)
    tampered = paula.model_copy(update={"token": str(_sign(iid, paula).token)[:-2] + "xx"})
    assert "signature is invalid" in await _refused(handle, "approve", tampered)
    expired = _sign(iid, paula, expires=datetime.now(UTC) - timedelta(seconds=1))
    assert "expired" in await _refused(handle, "approve", expired)
    other_initiative = _sign("someone-else", paula)
    assert "issued for initiative 'someone-else'" in await _refused(handle, "approve", other_initiative)
    other_stage = _sign(iid, paula, stage="poc")
    assert "issued for stage 'poc', not 'proposed'" in await _refused(handle, "approve", other_stage)
    other_role = _sign(iid, paula, role="security")
    assert "issued for role 'security'" in await _refused(handle, "approve", other_role)
    other_action = _sign(iid, paula, action="reject")
    assert "issued for action 'reject'" in await _refused(handle, "approve", other_action)
    eve = ApproveInput(approver="eve@example.com", role=Role.PORTFOLIO)
    borrowed = _sign(iid, eve, person="paula@example.com")
    assert "issued for approver 'paula@example.com'" in await _refused(handle, "approve", borrowed)
    # a token for one comment does not carry another
    edited = _sign(iid, paula, digest_of=paula.model_copy(update={"comment": "as agreed"}))
    assert "differs from the one the approval token was issued for" in await _refused(handle, "approve", edited)
    # a valid token does not put someone on the roster, nor let the submitter approve
    message = await _refused(handle, "approve", _sign(iid, eve))
    assert message == "eve@example.com is not on the roster for role portfolio"
    assert await accepted_update_count(handle) == 0

    good = _sign(iid, paula)
    view = await update(handle, "approve", good)
    assert view.stage.value == "poc"
    verified = await pool.fetchval(
        "SELECT verified FROM lifecycle_events WHERE initiative_id=$1 AND kind='approved'", iid
    )
    assert verified is True
    # the same token again: the stage has moved on
    assert "issued for stage 'proposed', not 'poc'" in await _refused(handle, "approve", good)


async def test_a_token_read_from_history_cannot_be_used_again_or_for_another_payload(
    client: Client, secured_queue: str, policy: Policy
) -> None:
    inp = make_start(policy)
    iid = inp.initiative_id
    handle = await start(client, secured_queue, inp, secret=SECRET)
    blocker = ReportBlockerInput(actor=SUBMITTER, reason_code=ReasonCode.DATA_ACCESS_BLOCKED, detail="no access")
    sent = _sign(iid, blocker, action="report_blocker", role="")
    await update(handle, "report_blocker", sent)
    # The accepted payload, token included, is in the history for anyone to read.
    history = await handle.fetch_history()
    accepted = next(
        e.workflow_execution_update_accepted_event_attributes.accepted_request.input
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    )
    stolen = json.loads(accepted.args.payloads[0].data)["token"]
    assert stolen == sent.token
    message = await _refused(handle, "report_blocker", blocker.model_copy(update={"token": stolen}))
    assert message == "this approval token was already used for a decision; a token is good for one decision only"
    hold = HoldInput(actor=SUBMITTER, reason_code=ReasonCode.DATA_ACCESS_BLOCKED, detail="no access", token=stolen)
    message = await _refused(handle, "hold", hold)
    assert "issued for action 'report_blocker', not 'hold'" in message
    other_reason = blocker.model_copy(update={"reason_code": ReasonCode.BUDGET_CUT, "token": stolen})
    assert "differs from the one" in await _refused(handle, "report_blocker", other_reason)
    assert await accepted_update_count(handle) == 1


async def test_submitter_token_and_double_approval_are_refused(
    client: Client, secured_queue: str, policy: Policy
) -> None:
    inp = make_start(policy, risk_tier=RiskTier.HIGH)
    iid = inp.initiative_id
    handle = await start(client, secured_queue, inp, secret=SECRET)

    def approve(approver: str, role: Role) -> ApproveInput:
        return ApproveInput(approver=approver, role=role)

    await update(handle, "approve", _sign(iid, approve("paula@example.com", Role.PORTFOLIO)))
    poc = SubmitPocResultsInput(actor=SUBMITTER, metrics={"auc": 0.9})
    await update(handle, "submit_poc_results", _sign(iid, poc, stage="poc", action="submit_poc_results"))
    await update(handle, "approve", _sign(iid, approve("bob@example.com", Role.BUSINESS_OWNER), stage="poc"))
    await update(handle, "approve", _sign(iid, approve("ian@example.com", Role.INFRASTRUCTURE), stage="infra_review"))

    # genuine tokens, but the validator still applies separation of duties
    own = _sign(iid, approve(SUBMITTER, Role.COMPLIANCE), stage="it_signoff")
    message = await _refused(handle, "approve", own)
    assert message == f"{SUBMITTER} submitted this initiative and may not approve it (separation of duties)"
    await update(handle, "approve", _sign(iid, approve("bob@example.com", Role.IT_OPERATIONS), stage="it_signoff"))
    twice = _sign(iid, approve("bob@example.com", Role.BUSINESS_OWNER), stage="it_signoff")
    message = await _refused(handle, "approve", twice)
    assert "bob@example.com has already approved stage it_signoff as it_operations" in message

    scrap = _sign(
        iid, ScrapInput(actor=SUBMITTER, reason_code=ReasonCode.BUDGET_CUT), stage="it_signoff", action="scrap"
    )
    view = await update(handle, "scrap", scrap)
    assert view.stage.value == "scrapped"


async def test_without_a_secret_tokens_are_refused_and_events_unverified(
    client: Client, task_queue: str, pool: asyncpg.Pool, policy: Policy
) -> None:
    inp = make_start(policy)
    handle = await start(client, task_queue, inp)
    message = await _refused(
        handle, "approve", _sign("x", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO))
    )
    assert "approval tokens are not enabled" in message
    await update(handle, "approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO))
    verified = await pool.fetchval(
        "SELECT verified FROM lifecycle_events WHERE initiative_id=$1 AND kind='approved'", inp.initiative_id
    )
    assert verified is False
