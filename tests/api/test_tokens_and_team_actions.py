"""Approval tokens over HTTP, the remaining actions, and the taxonomy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest_asyncio
from temporalio.client import Client

from api.principals import Directory
from schemas.approval_token import TOKEN_PREFIX
from schemas.contract import workflow_id_for
from schemas.policy import Policy
from schemas.status import InitiativeStatusView
from schemas.taxonomy import TAXONOMY
from tests.api.conftest import auth, signing_api, submission

SECRET = b"api-test-secret"


@pytest_asyncio.fixture(loop_scope="session")
async def secured_api(
    client: Client, pool: asyncpg.Pool, policy: Policy, directory: Directory
) -> AsyncIterator[httpx.AsyncClient]:
    """The app and a worker sharing an approval secret."""
    async with signing_api(client, pool, policy, directory, queue="secured-api-queue", secret=SECRET) as http:
        yield http


async def _submit(http: httpx.AsyncClient) -> str:
    response = await http.post("/v1/initiatives", json=submission(), headers=auth("alice@example.com"))
    assert response.status_code == 201, response.text
    initiative_id: str = response.json()["id"]
    return initiative_id


async def test_api_signs_its_own_decisions_and_mints_ui_tokens(secured_api: httpx.AsyncClient, client: Client) -> None:
    iid = await _submit(secured_api)
    minted = await secured_api.post(
        f"/v1/initiatives/{iid}/approval-token", json={"role": "portfolio"}, headers=auth("paula@example.com")
    )
    assert minted.status_code == 200, minted.text
    body = minted.json()
    payload: dict[str, Any] = body["ui_payload"]
    assert payload == {
        "approver": "paula@example.com",
        "role": "portfolio",
        "stage": "proposed",
        "token": body["token"],
        "comment": "",
    }
    # exactly what an approver pastes into the Web UI's update dialog
    handle = client.get_workflow_handle(workflow_id_for(iid))
    view = await handle.execute_update("approve", payload, result_type=InitiativeStatusView)
    assert view.stage.value == "poc"

    # API calls carry a token the API signed for the authenticated caller
    results = await secured_api.post(
        f"/v1/initiatives/{iid}/submit-poc-results", json={"metrics": {"f1": 0.95}}, headers=auth("alice@example.com")
    )
    assert results.status_code == 200, results.text
    events = (await secured_api.get(f"/v1/initiatives/{iid}/events", headers=auth("vic@example.com"))).json()
    decided = {e["kind"]: e["verified"] for e in events["events"] if e["kind"] in {"approved", "poc_results_submitted"}}
    assert decided == {"approved": True, "poc_results_submitted": True}


async def test_token_endpoint_checks_role_and_configuration(
    secured_api: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    iid = await _submit(secured_api)
    wrong_role = await secured_api.post(
        f"/v1/initiatives/{iid}/approval-token", json={"role": "security"}, headers=auth("paula@example.com")
    )
    assert wrong_role.status_code == 403
    no_role = await secured_api.post(
        f"/v1/initiatives/{iid}/approval-token", json={}, headers=auth("paula@example.com")
    )
    assert no_role.status_code == 422
    unknown = await secured_api.post(
        "/v1/initiatives/nope/approval-token", json={"role": "portfolio"}, headers=auth("paula@example.com")
    )
    assert unknown.status_code == 404

    plain = await _submit(api)
    disabled = await api.post(
        f"/v1/initiatives/{plain}/approval-token", json={"role": "portfolio"}, headers=auth("paula@example.com")
    )
    assert disabled.status_code == 409
    assert "LIFTOFF_APPROVAL_SECRET" in disabled.json()["detail"]


async def test_team_actions_hold_resume_blocker_and_send_back(api: httpx.AsyncClient) -> None:
    iid = await _submit(api)
    alice = auth("alice@example.com")
    blocker = await api.post(
        f"/v1/initiatives/{iid}/report-blocker",
        json={"reason_code": "DATA_ACCESS_BLOCKED", "detail": "no access to ERP"},
        headers=alice,
    )
    assert blocker.status_code == 200, blocker.text
    assert blocker.json()["blocker"]["reason_code"] == "DATA_ACCESS_BLOCKED"

    held = await api.post(
        f"/v1/initiatives/{iid}/hold", json={"reason_code": "BUDGET_CUT", "detail": "freeze"}, headers=alice
    )
    assert held.json()["status"] == "on_hold"
    refused = await api.post(
        f"/v1/initiatives/{iid}/approve", json={"role": "portfolio"}, headers=auth("paula@example.com")
    )
    assert refused.status_code == 409
    assert "on hold" in refused.json()["detail"]
    outsider = await api.post(f"/v1/initiatives/{iid}/resume", json={}, headers=auth("mallory@example.com"))
    assert outsider.status_code == 403
    resumed = await api.post(f"/v1/initiatives/{iid}/resume", json={"detail": "budget back"}, headers=alice)
    assert resumed.json()["status"] == "active"

    await api.post(f"/v1/initiatives/{iid}/approve", json={"role": "portfolio"}, headers=auth("paula@example.com"))
    back = await api.post(
        f"/v1/initiatives/{iid}/request-changes",
        json={"role": "business_owner", "reason_code": "BIZ_VALUE_UNPROVEN", "detail": "sharpen"},
        headers=auth("bob@example.com"),
    )
    assert back.status_code == 200, back.text
    assert back.json()["stage"] == "proposed"
    waive = await api.post(
        f"/v1/initiatives/{iid}/waive-finding",
        json={"finding_id": "F-1", "role": "infrastructure", "justification": "ok"},
        headers=auth("ian@example.com"),
    )
    assert waive.status_code == 409
    assert "only in stage infra_review" in waive.json()["detail"]


async def test_taxonomy_lists_every_code(api: httpx.AsyncClient) -> None:
    body = (await api.get("/v1/taxonomy", headers=auth("vic@example.com"))).json()
    assert body["version"]
    codes = {c["code"]: c["family"] for c in body["codes"]}
    assert len(codes) == len(TAXONOMY)
    assert codes["INTEGRATION_COMPLEXITY"] == "TECHNICAL"
    assert codes["ABANDONED"] == "ORGANISATION"
    assert codes["REG_PROHIBITED"] == "RISK_COMPLIANCE"


async def test_team_action_tokens_are_only_for_the_team(secured_api: httpx.AsyncClient, client: Client) -> None:
    """Hole 2: a member of another team minted a scrap token and scrapped someone else's initiative."""
    iid = await _submit(secured_api)
    path = f"/v1/initiatives/{iid}/approval-token"
    scrap = {"action": "scrap", "fields": {"reason_code": "BUDGET_CUT", "detail": "not ours"}}
    outsider = await secured_api.post(path, json=scrap, headers=auth("mallory@example.com"))
    assert outsider.status_code == 403
    assert "not on the initiative's team" in outsider.json()["detail"]
    viewer = await secured_api.post(path, json=scrap, headers=auth("val@example.com"))  # in the team, only views
    assert viewer.status_code == 403
    assert "a viewer takes no action" in viewer.json()["detail"]
    direct = await secured_api.post(
        f"/v1/initiatives/{iid}/scrap", json=scrap["fields"], headers=auth("val@example.com")
    )
    assert direct.status_code == 403

    # The team's own member gets a token bound to exactly that scrap, which the Web UI path accepts once.
    minted = await secured_api.post(path, json=scrap, headers=auth("alice@example.com"))
    assert minted.status_code == 200, minted.text
    payload = minted.json()["ui_payload"]
    assert payload["detail"] == "not ours"
    assert payload["actor"] == "alice@example.com"
    handle = client.get_workflow_handle(workflow_id_for(iid))
    view = await handle.execute_update("scrap", payload, result_type=InitiativeStatusView)
    assert view.stage.value == "scrapped"


async def test_token_fields_are_validated_like_the_action(secured_api: httpx.AsyncClient) -> None:
    iid = await _submit(secured_api)
    path = f"/v1/initiatives/{iid}/approval-token"
    unknown_field = await secured_api.post(
        path, json={"role": "portfolio", "fields": {"aprover": "x@example.com"}}, headers=auth("paula@example.com")
    )
    assert unknown_field.status_code == 422
    assert ["body", "fields", "aprover"] in [e["loc"] for e in unknown_field.json()["detail"]]
    bad_code = await secured_api.post(
        path, json={"action": "hold", "fields": {"reason_code": "NOPE"}}, headers=auth("alice@example.com")
    )
    assert bad_code.status_code == 422
    commented = await secured_api.post(
        path, json={"role": "portfolio", "fields": {"comment": "as agreed"}}, headers=auth("paula@example.com")
    )
    assert commented.json()["ui_payload"]["comment"] == "as agreed"


def _keys(value: Any) -> set[str]:
    """Every key of every object inside ``value``."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


async def test_events_never_carry_a_token(secured_api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool) -> None:
    """Hole 7: everyone reads every event, so no event may hold a token (signed, minted or bearer)."""
    iid = await _submit(secured_api)
    minted = await secured_api.post(
        f"/v1/initiatives/{iid}/approval-token", json={"role": "portfolio"}, headers=auth("paula@example.com")
    )
    ui_token: str = minted.json()["token"]
    handle = client.get_workflow_handle(workflow_id_for(iid))
    await handle.execute_update("approve", minted.json()["ui_payload"], result_type=InitiativeStatusView)
    # an API decision the API signs, and one the workflow refuses (recorded with its payload)
    results = await secured_api.post(
        f"/v1/initiatives/{iid}/submit-poc-results", json={"metrics": {"f1": 0.95}}, headers=auth("alice@example.com")
    )
    assert results.status_code == 200, results.text
    refused = await secured_api.post(
        f"/v1/initiatives/{iid}/approve", json={"role": "portfolio"}, headers=auth("paula@example.com")
    )
    assert refused.status_code == 409, refused.text

    read = await secured_api.get(f"/v1/initiatives/{iid}/events", headers=auth("vic@example.com"))
    events = read.json()["events"]
    refusal = next(e for e in events if e["kind"] == "decision_refused")
    assert refusal["data"]["payload"]["role"] == "portfolio"
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT to_jsonb(e) AS row FROM lifecycle_events e WHERE initiative_id = $1", iid)
    stored = [row["row"] for row in rows]
    assert len(stored) == len(events)
    for text, keys in ((read.text, _keys(events)), (str(stored), {k for r in stored for k in _keys(r)})):
        assert "token" not in keys
        assert ui_token not in text
        assert "token-paula" not in text
        assert "token-alice" not in text
        assert f"{TOKEN_PREFIX}." not in text
