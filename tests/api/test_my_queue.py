"""``GET /v1/me/queue`` and ``?awaiting_role=``: what waits for whom, as the gate moves."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.api.conftest import auth, submission


async def queue_of(api: httpx.AsyncClient, email: str) -> dict[str, dict[str, Any]]:
    """The caller's queue by initiative id (an initiative may show once per action)."""
    response = await api.get("/v1/me/queue", headers=auth(email))
    assert response.status_code == 200, response.text
    return {f"{item['id']}/{item['action']}": item for item in response.json()["items"]}


async def until(check: Callable[[], Any], what: str, timeout: float = 15.0) -> None:
    """Wait for the read model to catch up with the workflow (it is written by the worker)."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def test_the_queue_follows_the_gate(api: httpx.AsyncClient) -> None:
    created = await api.post("/v1/initiatives", json=submission(), headers=auth("alice@example.com"))
    assert created.status_code == 201, created.text
    iid = created.json()["id"]
    approve, submit_results = f"{iid}/approve", f"{iid}/submit_poc_results"

    async def paula_sees_it() -> bool:
        return approve in await queue_of(api, "paula@example.com")

    await until(paula_sees_it, "the portfolio approver's queue")
    item = (await queue_of(api, "paula@example.com"))[approve]
    live = (await api.get(f"/v1/initiatives/{iid}", headers=auth("paula@example.com"))).json()
    assert item["title"] == "Invoice OCR"
    assert item["team"] == "ml-platform"
    assert item["stage"] == "proposed"
    assert item["roles"] == ["portfolio"]
    assert item["stalled"] is False
    assert item["web_ui_url"].startswith("http://ui.test/")
    assert iid in item["web_ui_url"]
    # due when the proposed stage's SLA (14 days by default) runs out, as the workflow says
    assert datetime.fromisoformat(item["due_at"]) == datetime.fromisoformat(live["sla_due_at"])
    entered = datetime.fromisoformat(live["stage_entered_at"])
    assert datetime.fromisoformat(item["due_at"]) - entered == timedelta(days=14)

    # nobody else can act on it: other roles, the submitter herself, a viewer
    for other in ("bob@example.com", "ian@example.com", "alice@example.com", "vic@example.com", "val@example.com"):
        assert not [k for k in await queue_of(api, other) if k.startswith(iid)], other

    by_role = await api.get("/v1/initiatives?awaiting_role=portfolio&limit=500", headers=auth("vic@example.com"))
    assert iid in {i["id"] for i in by_role.json()["items"]}
    by_other = await api.get("/v1/initiatives?awaiting_role=security&limit=500", headers=auth("vic@example.com"))
    assert iid not in {i["id"] for i in by_other.json()["items"]}

    approved = await api.post(
        f"/v1/initiatives/{iid}/approve", json={"role": "portfolio"}, headers=auth("paula@example.com")
    )
    assert approved.status_code == 200, approved.text

    # In the PoC the gate waits for the team's results first: the team sees it, the business owner not yet.
    async def team_sees_it() -> bool:
        return submit_results in await queue_of(api, "alice@example.com")

    await until(team_sees_it, "the team's queue")
    assert approve not in await queue_of(api, "paula@example.com")
    assert not [k for k in await queue_of(api, "bob@example.com") if k.startswith(iid)]
    assert not [k for k in await queue_of(api, "mallory@example.com") if k.startswith(iid)]  # another team
    assert not [k for k in await queue_of(api, "val@example.com") if k.startswith(iid)]  # a viewer on the team
    not_yet = await api.get("/v1/initiatives?awaiting_role=business_owner&limit=500", headers=auth("vic@example.com"))
    assert iid not in {i["id"] for i in not_yet.json()["items"]}

    results = await api.post(
        f"/v1/initiatives/{iid}/submit-poc-results", json={"metrics": {"f1": 0.95}}, headers=auth("alice@example.com")
    )
    assert results.status_code == 200, results.text

    async def owner_sees_it() -> bool:
        return approve in await queue_of(api, "bob@example.com")

    await until(owner_sees_it, "the business owner's queue")
    assert submit_results not in await queue_of(api, "alice@example.com")
    assert (await queue_of(api, "bob@example.com"))[approve]["roles"] == ["business_owner"]


async def test_the_queue_is_sorted_by_due_date_and_needs_a_caller(api: httpx.AsyncClient) -> None:
    assert (await api.get("/v1/me/queue")).status_code == 401
    assert (await api.get("/v1/me/queue?limit=0", headers=auth("paula@example.com"))).status_code == 422
    items = (await api.get("/v1/me/queue?limit=500", headers=auth("paula@example.com"))).json()["items"]
    dues = [i["due_at"] for i in items if i["due_at"] is not None]
    assert dues == sorted(dues, key=datetime.fromisoformat)
    bad = await api.get("/v1/initiatives?awaiting_role=wizard", headers=auth("vic@example.com"))
    assert bad.status_code == 422
