"""Hole 3: a rollout's change decision needs a token like every decision, and an event names who decided."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from api.app import create_app
from api.context import ApiContext
from api.principals import Directory
from schemas.policy import Policy
from tests.api.conftest import auth
from tests.api.test_ticket_events import SECRET as WEBHOOK_SECRET
from tests.api.test_ticket_events import _change_ticket, _jira_body, _signed, _to_rollout, _until
from worker.heartbeat import heartbeat
from worker.wiring import build_worker

APPROVALS = b"change-trust-secret"


@pytest_asyncio.fixture(loop_scope="session")
async def trusted_api(
    client: Client, pool: asyncpg.Pool, policy: Policy, directory: Directory
) -> AsyncIterator[httpx.AsyncClient]:
    """Change approval required, approvals verified, Jira webhooks on: the API and a worker sharing the secret."""
    queue = f"trust-{uuid.uuid4()}"
    gated = policy.model_copy(update={"change_approval": True, "change_poll_interval": timedelta(minutes=10)})
    ctx = ApiContext(
        client=client,
        pool=pool,
        directory=directory,
        policy=gated,
        task_queue=queue,
        ui_base_url="http://ui.test",
        approval_secret=APPROVALS,
        webhook_secrets={"jira": WEBHOOK_SECRET},
    )
    async with build_worker(client, pool, task_queue=queue, approval_secret=APPROVALS), heartbeat(pool, queue):
        transport = httpx.ASGITransport(app=create_app(ctx))
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test", timeout=30) as http:
            yield http


async def _change_events(http: httpx.AsyncClient, iid: str) -> list[dict[str, Any]]:
    """The ``change_decided`` events, once recorded (the live status moves before the event log)."""
    decided: list[dict[str, Any]] = []
    for _ in range(100):
        events = (await http.get(f"/v1/initiatives/{iid}/events", headers=auth("vic@example.com"))).json()["events"]
        decided = [e for e in events if e["kind"] == "change_decided"]
        if decided:
            break
        await asyncio.sleep(0.05)
    return decided


async def test_an_unsigned_change_decision_is_refused_and_a_signed_one_recorded(
    trusted_api: httpx.AsyncClient, client: Client
) -> None:
    iid = await _to_rollout(trusted_api)
    view = await _until(trusted_api, iid, lambda v: v["rollout_workflow_id"] is not None)
    rollout = client.get_workflow_handle(view["rollout_workflow_id"])
    # What anyone with the Web UI could do before: approve the change and send the initiative to production.
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await rollout.execute_update("change_decision", {"approved": True, "actor": "mallory@example.com"})
    assert isinstance(info.value.cause, ApplicationError)
    assert "a signed approval token is required" in info.value.cause.message

    # The change board's webhook: the API authenticates it and signs the decision for "jira".
    body = _jira_body(iid, "Approved", await _change_ticket(client, trusted_api, iid))
    response = await trusted_api.post("/v1/events/jira", content=body, headers=_signed(body))
    assert response.status_code == 202, response.text
    await _until(trusted_api, iid, lambda v: v["stage"] == "production")
    events = await _change_events(trusted_api, iid)
    assert [(e["actor"], e["verified"], e["reason_code"]) for e in events] == [("jira", True, None)]


async def test_the_change_board_decides_in_the_web_ui_with_a_minted_token(
    trusted_api: httpx.AsyncClient, client: Client
) -> None:
    iid = await _to_rollout(trusted_api)
    path = f"/v1/initiatives/{iid}/approval-token"
    body = {"action": "change_decision", "fields": {"approved": False, "detail": "freeze window"}}
    not_the_board = await trusted_api.post(path, json=body, headers=auth("bob@example.com"))
    assert not_the_board.status_code == 403
    minted = await trusted_api.post(path, json=body, headers=auth("olga@example.com"))
    assert minted.status_code == 200, minted.text
    token = minted.json()
    assert token["workflow_id"].startswith("rollout-")
    rollout = client.get_workflow_handle(token["workflow_id"])
    assert await rollout.execute_update("change_decision", token["ui_payload"]) is False
    await _until(trusted_api, iid, lambda v: v["stage"] == "it_signoff")
    events = await _change_events(trusted_api, iid)
    assert [(e["actor"], e["verified"], e["reason_code"], e["detail"]) for e in events] == [
        ("olga@example.com", True, "CHANGE_REJECTED", "freeze window")
    ]
