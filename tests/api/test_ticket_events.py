"""Ticket webhooks turn a change board's decision into the rollout's next step; polling is the fallback."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest_asyncio
from pydantic import SecretStr
from temporalio.client import Client

from activities.adapters.servicenow import ServiceNowConfig, ServiceNowTicketing
from activities.provisioning import BuiltinProvisioner
from api.app import create_app
from api.context import ApiContext
from api.principals import Directory
from schemas.policy import Policy
from tests.api.conftest import auth, submission
from tests.fakes.server import serve
from tests.fakes.servicenow import FakeServiceNowState, create_fake_servicenow
from worker.adapters import Integrations
from worker.wiring import build_worker

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


async def _change_ticket(client: Client, http: httpx.AsyncClient, iid: str) -> str:
    """The rollout's change ticket reference, once it is opened."""
    view = await _until(http, iid, lambda v: v["rollout_workflow_id"] is not None)
    rollout = client.get_workflow_handle(view["rollout_workflow_id"])
    for _ in range(100):
        ref: str | None = await rollout.query("change_ticket")
        if ref:
            return ref
        await asyncio.sleep(0.05)
    raise AssertionError("the rollout never opened its change ticket")


async def _until(http: httpx.AsyncClient, iid: str, check: Any) -> dict[str, Any]:
    view: dict[str, Any] = {}
    for _ in range(200):
        view = (await http.get(f"/v1/initiatives/{iid}", headers=auth("vic@example.com"))).json()
        if check(view):
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition never held; last view: {view}")


def _jira_body(iid: str, status_name: str, key: str = "LIFT-7", *, sent: datetime | None = None) -> bytes:
    """A Jira issue webhook body as Jira sends it (``timestamp`` in epoch milliseconds)."""
    return json.dumps(
        {
            "timestamp": int((sent or datetime.now(UTC)).timestamp() * 1000),
            "webhookEvent": "jira:issue_updated",
            "issue": {
                "key": key,
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


@pytest_asyncio.fixture(loop_scope="session")
async def servicenow_api(
    client: Client, pool: asyncpg.Pool, policy: Policy, directory: Directory
) -> AsyncIterator[tuple[httpx.AsyncClient, FakeServiceNowState]]:
    """Change tickets in a (fake) ServiceNow instance, its webhook enabled, change approval required."""
    app, state = create_fake_servicenow(user="liftoff", password="s3cret-pass")
    queue = f"snow-{uuid.uuid4()}"
    gated = policy.model_copy(update={"change_approval": True, "change_poll_interval": timedelta(minutes=10)})
    async with serve(app) as url:
        ticketing = ServiceNowTicketing(ServiceNowConfig(url=url, user="liftoff", password=SecretStr("s3cret-pass")))
        integrations = Integrations(ticketing=ticketing, provisioner=BuiltinProvisioner(pool))
        ctx = ApiContext(
            client=client,
            pool=pool,
            directory=directory,
            policy=gated,
            task_queue=queue,
            ui_base_url="http://ui.test",
            webhook_secrets={"servicenow": SECRET},
        )
        try:
            async with build_worker(client, pool, task_queue=queue, integrations=integrations):
                transport = httpx.ASGITransport(app=create_app(ctx))
                async with httpx.AsyncClient(transport=transport, base_url="http://api.test", timeout=30) as http:
                    yield http, state
        finally:
            await ticketing.aclose()


async def test_servicenow_approval_lets_the_rollout_proceed(
    servicenow_api: tuple[httpx.AsyncClient, FakeServiceNowState], client: Client
) -> None:
    http, _ = servicenow_api
    iid = await _to_rollout(http)
    table, sys_id = (await _change_ticket(client, http, iid)).split(":")
    body = {
        "table": table,
        "sys_id": sys_id,
        "number": "CHG0030001",
        "state": "-2",
        "approval": "approved",
        "correlation_display": f"liftoff:{iid}",
        "sent_at": datetime.now(UTC).isoformat(),
    }
    wrong = await http.post("/v1/events/servicenow", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    another = {**body, "sys_id": "b" * 32}  # a correctly authenticated record that is not the change ticket
    response = await http.post(
        "/v1/events/servicenow", json=another, headers={"Authorization": f"Bearer {SECRET.decode()}"}
    )
    assert response.status_code == 409
    response = await http.post(
        "/v1/events/servicenow", json=body, headers={"Authorization": f"Bearer {SECRET.decode()}"}
    )
    assert response.status_code == 202, response.text
    assert response.json() == {"initiative_id": iid, "handled": "change_approved"}
    final = await _until(http, iid, lambda v: v["stage"] == "production")
    assert final["status"] == "production"


async def test_jira_wont_do_sends_the_initiative_back_with_a_reason(
    change_api: httpx.AsyncClient, pool: asyncpg.Pool, client: Client
) -> None:
    iid = await _to_rollout(change_api)
    body = _jira_body(iid, "Won't Do", await _change_ticket(client, change_api, iid))
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


async def test_an_unrelated_issue_stale_or_replayed_deliveries_decide_nothing(
    change_api: httpx.AsyncClient, client: Client
) -> None:
    """Hole 3: a correctly signed body for RANDOM-999 labelled with the initiative moved it to production."""
    iid = await _to_rollout(change_api)
    ref = await _change_ticket(client, change_api, iid)
    random_issue = _jira_body(iid, "Done", "RANDOM-999")
    response = await change_api.post("/v1/events/jira", content=random_issue, headers=_signed(random_issue))
    assert response.status_code == 409
    assert "is not the change ticket" in response.json()["detail"]
    stale = _jira_body(iid, "Done", ref, sent=datetime.now(UTC) - timedelta(minutes=10))
    response = await change_api.post("/v1/events/jira", content=stale, headers=_signed(stale))
    assert response.status_code == 409
    assert "stale delivery" in response.json()["detail"]
    view = (await change_api.get(f"/v1/initiatives/{iid}", headers=auth("vic@example.com"))).json()
    assert view["stage"] == "rollout"

    fresh = _jira_body(iid, "Done", ref)
    first = await change_api.post("/v1/events/jira", content=fresh, headers=_signed(fresh))
    assert first.json()["handled"] == "change_approved"
    again = await change_api.post("/v1/events/jira", content=fresh, headers=_signed(fresh))
    assert (again.status_code, again.json()["handled"]) == (202, "duplicate")
    await _until(change_api, iid, lambda v: v["stage"] == "production")


async def test_an_empty_secret_disables_and_odd_headers_are_401(
    client: Client, pool: asyncpg.Pool, policy: Policy, directory: Directory
) -> None:
    ctx = ApiContext(
        client=client,
        pool=pool,
        directory=directory,
        policy=policy,
        task_queue="unused",
        ui_base_url="x",
        webhook_secrets={"servicenow": b"", "jira": SECRET},
    )
    transport = httpx.ASGITransport(app=create_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
        # LIFTOFF_SERVICENOW_WEBHOOK_SECRET= (empty) used to accept any unauthenticated post
        empty = await http.post("/v1/events/servicenow", json={"table": "x"}, headers={"Authorization": "Bearer "})
        assert empty.status_code == 404
        body = _jira_body("x", "Done")
        odd = await http.post(
            "/v1/events/jira",
            content=body,
            headers={
                b"X-Hub-Signature": b"sha256=\xc3\xa9\xc3\xa9",  # not ASCII: it was a 500
                b"Content-Type": b"application/json",
            },
        )
        assert odd.status_code == 401
