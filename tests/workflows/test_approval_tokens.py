"""Signed approval tokens verified by the worker before validators run."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from schemas.approval_token import sign_token
from schemas.classification import RiskTier
from schemas.contract import DECISION_REFUSED
from schemas.decisions import ApproveInput, ScrapInput
from schemas.policy import Policy
from schemas.stages import Role
from schemas.taxonomy import ReasonCode
from tests.conftest import SUBMITTER, make_start
from tests.workflows.helpers import accepted_update_count, start, update
from worker.wiring import build_worker

SECRET = b"test-approval-secret"
LATER = datetime.now(UTC) + timedelta(minutes=10)


@pytest_asyncio.fixture(loop_scope="session")
async def secured_queue(client: Client, pool: asyncpg.Pool) -> AsyncIterator[str]:
    queue = f"test-{uuid.uuid4()}"
    async with build_worker(client, pool, task_queue=queue, approval_secret=SECRET):
        yield queue


def _token(
    initiative_id: str,
    *,
    person: str = "paula@example.com",
    role: str = "portfolio",
    stage: str = "proposed",
    action: str = "approve",
    secret: bytes = SECRET,
    expires: datetime = LATER,
) -> str:
    return sign_token(
        secret, initiative_id=initiative_id, stage=stage, action=action, role=role, person=person, expires_at=expires
    )


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
    handle = await start(client, secured_queue, inp)

    def approve(token: str | None, approver: str = "paula@example.com", role: Role = Role.PORTFOLIO) -> ApproveInput:
        return ApproveInput(approver=approver, role=role, token=token)

    assert "token is required" in await _refused(handle, "approve", approve(None))
    forged = _token(iid, secret=b"guessed")
    assert "signature is invalid" in await _refused(handle, "approve", approve(forged))
    tampered = _token(iid)[:-2] + "xx"
    assert "signature is invalid" in await _refused(handle, "approve", approve(tampered))
    expired = _token(iid, expires=datetime.now(UTC) - timedelta(seconds=1))
    assert "expired" in await _refused(handle, "approve", approve(expired))
    other_initiative = _token("someone-else")
    assert "issued for initiative 'someone-else'" in await _refused(handle, "approve", approve(other_initiative))
    other_stage = _token(iid, stage="poc")
    assert "issued for stage 'poc', not 'proposed'" in await _refused(handle, "approve", approve(other_stage))
    other_role = _token(iid, role="security")
    assert "issued for role 'security'" in await _refused(handle, "approve", approve(other_role))
    other_action = _token(iid, action="reject")
    assert "issued for action 'reject'" in await _refused(handle, "approve", approve(other_action))
    borrowed = _token(iid, person="paula@example.com")
    message = await _refused(handle, "approve", approve(borrowed, approver="eve@example.com"))
    assert "issued for approver 'paula@example.com'" in message
    # a valid token does not put someone on the roster, nor let the submitter approve
    eve = _token(iid, person="eve@example.com")
    message = await _refused(handle, "approve", approve(eve, approver="eve@example.com"))
    assert message == "eve@example.com is not on the roster for role portfolio"
    assert await accepted_update_count(handle) == 0

    view = await update(handle, "approve", approve(_token(iid)))
    assert view.stage.value == "poc"
    verified = await pool.fetchval(
        "SELECT verified FROM lifecycle_events WHERE initiative_id=$1 AND kind='approved'", iid
    )
    assert verified is True
    # the same token again: the stage has moved on
    assert "issued for stage 'proposed', not 'poc'" in await _refused(handle, "approve", approve(_token(iid)))


async def test_submitter_token_and_double_approval_are_refused(
    client: Client, secured_queue: str, policy: Policy
) -> None:
    inp = make_start(policy, risk_tier=RiskTier.HIGH)
    iid = inp.initiative_id
    handle = await start(client, secured_queue, inp)

    async def signed(name: str, payload: dict[str, Any], stage: str) -> None:
        person = payload.get("approver") or payload["actor"]
        token = _token(iid, person=person, role=payload.get("role", ""), stage=stage, action=name)
        await update(handle, name, {**payload, "token": token})

    await signed("approve", {"approver": "paula@example.com", "role": "portfolio"}, "proposed")
    await signed("submit_poc_results", {"actor": SUBMITTER, "metrics": {"auc": 0.9}}, "poc")
    await signed("approve", {"approver": "bob@example.com", "role": "business_owner"}, "poc")
    await signed("approve", {"approver": "ian@example.com", "role": "infrastructure"}, "infra_review")

    # genuine tokens, but the validator still applies separation of duties
    own = _token(iid, person=SUBMITTER, role="compliance", stage="it_signoff")
    message = await _refused(handle, "approve", ApproveInput(approver=SUBMITTER, role=Role.COMPLIANCE, token=own))
    assert message == f"{SUBMITTER} submitted this initiative and may not approve it (separation of duties)"
    await signed("approve", {"approver": "bob@example.com", "role": "it_operations"}, "it_signoff")
    twice = _token(iid, person="bob@example.com", role="business_owner", stage="it_signoff")
    message = await _refused(
        handle, "approve", ApproveInput(approver="bob@example.com", role=Role.BUSINESS_OWNER, token=twice)
    )
    assert "bob@example.com has already approved stage it_signoff as it_operations" in message

    scrap = _token(iid, person=SUBMITTER, role="", stage="it_signoff", action="scrap")
    view = await update(handle, "scrap", ScrapInput(actor=SUBMITTER, reason_code=ReasonCode.BUDGET_CUT, token=scrap))
    assert view.stage.value == "scrapped"


async def test_without_a_secret_tokens_are_refused_and_events_unverified(
    client: Client, task_queue: str, pool: asyncpg.Pool, policy: Policy
) -> None:
    inp = make_start(policy)
    handle = await start(client, task_queue, inp)
    message = await _refused(
        handle, "approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO, token=_token("x"))
    )
    assert "approval tokens are not enabled" in message
    await update(handle, "approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO))
    verified = await pool.fetchval(
        "SELECT verified FROM lifecycle_events WHERE initiative_id=$1 AND kind='approved'", inp.initiative_id
    )
    assert verified is False
