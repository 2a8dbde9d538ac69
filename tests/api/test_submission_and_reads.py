"""Submitting and reading initiatives over HTTP; malformed input never starts a workflow."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from api.app import create_app
from api.context import ApiContext
from api.principals import Directory
from schemas.policy import Policy
from tests.api.conftest import auth, submission
from worker.heartbeat import _beat_forever


async def _workflow_count(client: Client) -> int:
    return (await client.count_workflows("WorkflowType='InitiativeWorkflow'")).count


async def _wait_for_row(api: httpx.AsyncClient, initiative_id: str) -> None:
    for _ in range(100):
        response = await api.get(f"/v1/initiatives/{initiative_id}/events", headers=auth("alice@example.com"))
        if response.status_code == 200 and len(response.json()["events"]) >= 2:
            return
        await asyncio.sleep(0.05)
    pytest.fail("the initiative's first events never reached PostgreSQL")


async def test_submit_then_read_live_status_and_events(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/initiatives", json=submission(), headers=auth("alice@example.com"))
    assert response.status_code == 201
    body = response.json()
    assert body["workflow_id"] == f"initiative-{body['id']}"
    assert body["stage"] == "proposed"
    assert body["web_ui_url"] == f"http://ui.test/namespaces/default/workflows/initiative-{body['id']}"

    live = (await api.get(f"/v1/initiatives/{body['id']}", headers=auth("vic@example.com"))).json()
    assert {
        k: live[k] for k in ("id", "title", "team", "stage", "status", "awaiting_roles", "approvals", "findings")
    } == {
        "id": body["id"],
        "title": "Invoice OCR",
        "team": "ml-platform",
        "stage": "proposed",
        "status": "active",
        "awaiting_roles": ["portfolio"],
        "approvals": [],
        "findings": [],
    }
    assert live["submitter"] == "alice@example.com"

    await _wait_for_row(api, body["id"])
    events = (await api.get(f"/v1/initiatives/{body['id']}/events", headers=auth("vic@example.com"))).json()["events"]
    assert [(e["kind"], e["stage"]) for e in events[:2]] == [("submitted", "proposed"), ("stage_entered", "proposed")]
    assert events[0]["actor"] == "alice@example.com"
    assert {"kind", "stage", "actor", "reason_code", "occurred_at"} <= set(events[0])

    listed = (
        await api.get(
            "/v1/initiatives", params={"team": "ml-platform", "stage": "proposed"}, headers=auth("vic@example.com")
        )
    ).json()
    assert body["id"] in [item["id"] for item in listed["items"]]
    none = (await api.get("/v1/initiatives", params={"team": "nobody"}, headers=auth("vic@example.com"))).json()
    assert none["items"] == []


async def test_idempotency_key_returns_the_same_initiative(api: httpx.AsyncClient, client: Client) -> None:
    headers = {**auth("alice@example.com"), "Idempotency-Key": "submit-once-42"}
    first = await api.post("/v1/initiatives", json=submission(title="Once"), headers=headers)
    second = await api.post("/v1/initiatives", json=submission(title="Once"), headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    other = await api.post(
        "/v1/initiatives",
        json=submission(title="Once"),
        headers={**auth("alice@example.com"), "Idempotency-Key": "another-key"},
    )
    assert other.json()["id"] != first.json()["id"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('{"title": ', "json_invalid"),
        (submission(budget_usd="lots"), "budget_usd"),
        (submission(risk_tier="extreme"), "risk_tier"),
        (submission(color="blue"), "extra_forbidden"),
        (submission(poc_success_criteria=[]), "poc_success_criteria"),
        (submission(infrastructure={"deployment_target": "mars", "containerized": True}), "deployment_target"),
        (submission(sponsor="not-an-email"), "sponsor"),
    ],
)
async def test_malformed_submissions_get_422_and_start_nothing(
    api: httpx.AsyncClient, client: Client, content: Any, fragment: str
) -> None:
    before = await _workflow_count(client)
    kwargs: dict[str, Any] = {"content": content} if isinstance(content, str) else {"json": content}
    response = await api.post(
        "/v1/initiatives", headers={**auth("alice@example.com"), "Content-Type": "application/json"}, **kwargs
    )
    assert response.status_code == 422
    assert fragment in response.text
    assert await _workflow_count(client) == before


async def test_unacceptable_risk_is_refused_at_intake(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/v1/initiatives", json=submission(risk_tier="unacceptable"), headers=auth("alice@example.com")
    )
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert (problem["type"], problem["loc"]) == ("REG_PROHIBITED", ["body", "risk_tier"])


async def test_authentication_and_authorisation(api: httpx.AsyncClient) -> None:
    assert (await api.get("/v1/initiatives")).status_code == 401
    bad = await api.get("/v1/initiatives", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert bad.json()["detail"] == "unknown bearer token"
    viewer = await api.post("/v1/initiatives", json=submission(), headers=auth("vic@example.com"))
    assert viewer.status_code == 403
    assert viewer.json()["detail"] == "vic@example.com lacks role submitter"
    outsider = await api.post("/v1/initiatives", json=submission(), headers=auth("mallory@example.com"))
    assert outsider.status_code == 403
    assert "not a member of team 'ml-platform'" in outsider.json()["detail"]


async def test_unknown_initiative_is_404_everywhere(api: httpx.AsyncClient) -> None:
    headers = auth("paula@example.com")
    for response in (
        await api.get("/v1/initiatives/doesnotexist", headers=headers),
        await api.get("/v1/initiatives/doesnotexist/events", headers=headers),
        await api.post("/v1/initiatives/doesnotexist/approve", json={"role": "portfolio"}, headers=headers),
    ):
        assert response.status_code == 404
        assert response.json()["detail"] == "no initiative with id 'doesnotexist'"
    weird = await api.get("/v1/initiatives/bad%20id!", headers=headers)
    assert weird.status_code == 422


async def test_health_and_readiness(api: httpx.AsyncClient) -> None:
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    for _ in range(100):  # the test's worker records its first heartbeat a moment after it starts
        ready = await api.get("/readyz")
        if ready.status_code == 200:
            break
        await asyncio.sleep(0.05)
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"ready": True, "checks": {"postgres": "ok", "temporal": "ok", "worker": "ok"}}


async def test_not_ready_without_a_worker(
    client: Client, pool: asyncpg.Pool, policy: Policy, directory: Directory
) -> None:
    ctx = ApiContext(
        client=client, pool=pool, directory=directory, policy=policy, task_queue="nobody-polls", ui_base_url="x"
    )
    transport = httpx.ASGITransport(app=create_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "ready": False,
        "checks": {"postgres": "ok", "temporal": "ok", "worker": "no worker has run on task queue nobody-polls"},
    }


async def test_a_killed_worker_is_noticed_within_the_window(
    client: Client, pool: asyncpg.Pool, policy: Policy, directory: Directory
) -> None:
    queue = f"beats-{uuid.uuid4()}"
    ctx = ApiContext(
        client=client,
        pool=pool,
        directory=directory,
        policy=policy,
        task_queue=queue,
        ui_base_url="x",
        worker_live_within=1.0,
    )
    transport = httpx.ASGITransport(app=create_app(ctx))
    # The beating task alone, cancelled as a kill -9 would end it: no clean exit removes the row.
    beating = asyncio.create_task(_beat_forever(pool, "doomed-worker", queue, 0.2))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
        await asyncio.sleep(0.3)
        assert (await http.get("/readyz")).json()["checks"]["worker"] == "ok"
        beating.cancel()
        await asyncio.sleep(1.3)
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"].startswith(f"no live worker on task queue {queue} (last heartbeat")
