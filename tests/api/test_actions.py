"""Decisions over HTTP: 200 with the new status, 409 with the validator's reason (audited), 4xx otherwise."""

from __future__ import annotations

import asyncio

import httpx
from temporalio.client import Client

from tests.api.conftest import auth, submission


async def _submit(api: httpx.AsyncClient) -> str:
    response = await api.post("/v1/initiatives", json=submission(), headers=auth("alice@example.com"))
    assert response.status_code == 201
    initiative_id: str = response.json()["id"]
    return initiative_id


async def _events(api: httpx.AsyncClient, initiative_id: str) -> list[dict[str, object]]:
    response = await api.get(f"/v1/initiatives/{initiative_id}/events", headers=auth("vic@example.com"))
    events: list[dict[str, object]] = response.json()["events"]
    return events


async def test_approve_returns_the_new_status(api: httpx.AsyncClient) -> None:
    iid = await _submit(api)
    response = await api.post(
        f"/v1/initiatives/{iid}/approve", json={"role": "portfolio", "comment": "go"}, headers=auth("paula@example.com")
    )
    assert response.status_code == 200
    body = response.json()
    assert body["stage"] == "poc"
    assert body["awaiting_roles"] == ["business_owner"]

    results = await api.post(
        f"/v1/initiatives/{iid}/submit-poc-results",
        json={"metrics": {"f1": 0.95}, "spend_usd": 800, "summary": "works"},
        headers=auth("alice@example.com"),
    )
    assert results.status_code == 200
    assert results.json()["poc"]["met"] is True


async def test_refused_decision_is_409_with_reason_and_audited(api: httpx.AsyncClient, client: Client) -> None:
    iid = await _submit(api)
    await api.post(f"/v1/initiatives/{iid}/approve", json={"role": "portfolio"}, headers=auth("paula@example.com"))
    refused = await api.post(
        f"/v1/initiatives/{iid}/approve", json={"role": "portfolio"}, headers=auth("paula@example.com")
    )
    assert refused.status_code == 409
    assert refused.json()["detail"] == "role portfolio does not decide stage poc; it needs: business_owner"

    early = await api.post(
        f"/v1/initiatives/{iid}/approve", json={"role": "business_owner"}, headers=auth("bob@example.com")
    )
    assert early.status_code == 409
    assert "PoC results meeting the success criteria" in early.json()["detail"]

    for _ in range(100):
        refusals = [e for e in await _events(api, iid) if e["kind"] == "decision_refused"]
        if len(refusals) == 2:
            break
        await asyncio.sleep(0.05)
    assert [(e["actor"], e["role"], e["detail"]) for e in refusals] == [
        ("paula@example.com", "portfolio", "role portfolio does not decide stage poc; it needs: business_owner"),
        (
            "bob@example.com",
            "business_owner",
            "PoC results meeting the success criteria must be submitted before the PoC can be approved",
        ),
    ]
    history = await client.get_workflow_handle(f"initiative-{iid}").fetch_history()
    accepted = sum(1 for e in history.events if e.HasField("workflow_execution_update_accepted_event_attributes"))
    assert accepted == 1


async def test_malformed_and_forbidden_actions(api: httpx.AsyncClient) -> None:
    iid = await _submit(api)
    paula = auth("paula@example.com")
    cases = [
        (
            await api.post(
                f"/v1/initiatives/{iid}/approve",
                content=b"{nope",
                headers={**paula, "Content-Type": "application/json"},
            ),
            422,
            "json_invalid",
        ),
        (await api.post(f"/v1/initiatives/{iid}/approve", json={"role": "king"}, headers=paula), 422, "role"),
        (
            await api.post(
                f"/v1/initiatives/{iid}/approve", json={"role": "portfolio", "approver": "x@y.z"}, headers=paula
            ),
            422,
            "extra_forbidden",
        ),
        (
            await api.post(f"/v1/initiatives/{iid}/approve", json={"role": "security"}, headers=paula),
            403,
            "does not hold role security",
        ),
        (
            await api.post(
                f"/v1/initiatives/{iid}/reject", json={"role": "portfolio", "reason_code": "NOPE"}, headers=paula
            ),
            422,
            "reason_code",
        ),
        (await api.post(f"/v1/initiatives/{iid}/launch", json={}, headers=paula), 404, "unknown action 'launch'"),
        (
            await api.post(
                f"/v1/initiatives/{iid}/submit-poc-results",
                json={"metrics": {"f1": 1}},
                headers=auth("mallory@example.com"),
            ),
            403,
            "not on the initiative's team",
        ),
    ]
    for response, code, fragment in cases:
        assert response.status_code == code, response.text
        assert fragment in response.text


async def test_scrap_then_any_decision_is_409(api: httpx.AsyncClient) -> None:
    iid = await _submit(api)
    scrapped = await api.post(
        f"/v1/initiatives/{iid}/scrap",
        json={"reason_code": "BIZ_PRIORITY_CHANGED", "detail": "reorg"},
        headers=auth("alice@example.com"),
    )
    assert scrapped.status_code == 200
    assert scrapped.json()["stage"] == "scrapped"
    assert scrapped.json()["reason_code"] == "BIZ_PRIORITY_CHANGED"
    late = await api.post(
        f"/v1/initiatives/{iid}/approve", json={"role": "portfolio"}, headers=auth("paula@example.com")
    )
    assert late.status_code == 409
    assert "scrapped" in late.json()["detail"]
