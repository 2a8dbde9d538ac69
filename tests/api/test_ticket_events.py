"""Ticket webhooks turn a change board's decision into the rollout's next step; polling is the fallback."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest_asyncio
from temporalio.client import Client

from api.app import create_app
from api.context import ApiContext
from api.principals import Directory
from schemas.policy import Policy
from tests.api.conftest import auth, submission

SECRET = b"ticket-webhook-secret"


@pytest_asyncio.fixture(loop_scope="session")
async def change_api(
    client: Client, pool: asyncpg.Pool, task_queue: str, policy: Policy, directory: Directory
) -> AsyncIterator[httpx.AsyncClient]:
    """The API with change approval required and both ticket webhooks enabled."""
    gated = policy.model_copy(update={"change_approval": True, "change_poll_interval": timedelta(seconds=1)})
    ctx = ApiContext(
        client=client,
        pool=pool,
        directory=directory,
        policy=gated,
        task_queue=task_queue,
        ui_base_url="http://ui.test",
        webhook_secrets={"jira": SECRET, "servicenow": SECRET},
    )
    transport = httpx.ASGITransport(app=create_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test", timeout=30) as http:
        yield http


async def _to_rollout(http: httpx.AsyncClient) -> str:
    iid: str = (await http.post("/v1/initiatives", json=submission(), headers=auth("alice@example.com"))).json()["id"]
    steps = [
        ("approve", "paula@example.com", {"role": "portfolio"}),
        ("submit-poc-results", "alice@example.com", {"metrics": {"f1": 0.95}}),
        ("approve", "bob@example.com", {"role": "business_owner"}),
        ("approve", "ian@example.com", {"role": "infrastructure"}),
        ("approve", "olga@example.com", {"role": "it_operations"}),
    ]
    for action, who, body in steps:
        response = await http.post(f"/v1/initiatives/{iid}/{action}", json=body, headers=auth(who))
        assert response.status_code == 200, response.text
    # it_signoff needs a second business owner: the test directory has one, bob, who approved the PoC
    response = await http.post(
        f"/v1/initiatives/{iid}/approve", json={"role": "business_owner"}, headers=auth("bob@example.com")
    )
    assert response.status_code == 200, response.text
    await _until(http, iid, lambda v: v["rollout_workflow_id"] is not None)
    return iid


async def _until(http: httpx.AsyncClient, iid: str, check: Any) -> dict[str, Any]:
    view: dict[str, Any] = {}
    for _ in range(200):
        view = (await http.get(f"/v1/initiatives/{iid}", headers=auth("vic@example.com"))).json()
        if check(view):
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition never held; last view: {view}")


def _jira_body(iid: str, status_name: str) -> bytes:
    return json.dumps(
        {
            "webhookEvent": "jira:issue_updated",
            "issue": {
                "key": "LIFT-7",
                "fields": {
                    "labels": ["liftoff", f"liftoff-initiative-{iid}", "liftoff-kind-change"],
                    "status": {"name": status_name},
                },
            },
        }
    ).encode()


def _signed(body: bytes, secret: bytes = SECRET) -> dict[str, str]:
    digest = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature": f"sha256={digest}", "Content-Type": "application/json"}


async def test_servicenow_approval_lets_the_rollout_proceed(change_api: httpx.AsyncClient) -> None:
    iid = await _to_rollout(change_api)
    body = {
        "table": "change_request",
        "sys_id": "a" * 32,
        "number": "CHG0030001",
        "state": "-2",
        "approval": "approved",
        "correlation_display": f"liftoff:{iid}",
    }
    wrong = await change_api.post("/v1/events/servicenow", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    response = await change_api.post(
        "/v1/events/servicenow", json=body, headers={"Authorization": f"Bearer {SECRET.decode()}"}
    )
    assert response.status_code == 202, response.text
    assert response.json() == {"initiative_id": iid, "handled": "change_approved"}
    final = await _until(change_api, iid, lambda v: v["stage"] == "production")
    assert final["status"] == "production"


async def test_jira_wont_do_sends_the_initiative_back_with_a_reason(
    change_api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    iid = await _to_rollout(change_api)
    body = _jira_body(iid, "Won't Do")
    assert (await change_api.post("/v1/events/jira", content=body, headers=_signed(body, b"other"))).status_code == 401
    response = await change_api.post("/v1/events/jira", content=body, headers=_signed(body))
    assert response.status_code == 202, response.text
    assert response.json()["handled"] == "change_rejected"
    view = await _until(change_api, iid, lambda v: v["stage"] == "it_signoff")
    assert view["approvals"] == []
    for _ in range(100):  # recorded right after the stage changed
        reason = await pool.fetchval(
            "SELECT reason_code FROM lifecycle_events WHERE initiative_id=$1 AND kind='rollout_failed'", iid
        )
        if reason:
            break
        await asyncio.sleep(0.05)
    assert reason == "CHANGE_REJECTED"


async def test_polling_finds_an_approved_change_without_a_webhook(
    change_api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    iid = await _to_rollout(change_api)
    await asyncio.sleep(0.2)
    updated = await pool.execute("UPDATE tickets SET status='approved' WHERE initiative_id=$1 AND kind='change'", iid)
    assert updated == "UPDATE 1"
    await _until(change_api, iid, lambda v: v["stage"] == "production")  # polled every second


async def test_unknown_initiative_and_malformed_events(change_api: httpx.AsyncClient) -> None:
    body = _jira_body("nobody", "Done")
    assert (await change_api.post("/v1/events/jira", content=body, headers=_signed(body))).status_code == 404
    bad = b"{not json"
    assert (await change_api.post("/v1/events/jira", content=bad, headers=_signed(bad))).status_code == 422
    no_label = json.dumps({"issue": {"key": "X-1", "fields": {"labels": []}}}).encode()
    response = await change_api.post("/v1/events/jira", content=no_label, headers=_signed(no_label))
    assert response.status_code == 422
    assert "liftoff-initiative" in response.text


async def test_webhooks_are_off_without_a_secret(api: httpx.AsyncClient) -> None:
    body = _jira_body("x", "Done")
    response = await api.post("/v1/events/jira", content=body, headers=_signed(body))
    assert response.status_code == 404
    assert "LIFTOFF_JIRA_WEBHOOK_SECRET" in response.text
