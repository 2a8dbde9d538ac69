"""The approver's desk: its page in headless Chromium (queue, signed payload), and the cookie's narrow reach."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
import pytest_asyncio
from temporalio.client import Client

from api.app import create_app
from api.context import TOKEN_COOKIE, ApiContext
from api.principals import Directory
from schemas.policy import Policy
from tests.api.conftest import auth, submission, token
from tests.api.test_dashboard import ARTIFACTS, CHROMIUM, _chromium
from tests.fakes.server import serve

SECRET = b"desk-test-secret"

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed (CI installs it)")


@pytest_asyncio.fixture(loop_scope="session")
async def desk(
    client: Client, pool: asyncpg.Pool, task_queue: str, policy: Policy, directory: Directory
) -> AsyncIterator[str]:
    """The app on a loopback port (a browser needs one), minting tokens, over this test's worker."""
    ctx = ApiContext(
        client=client,
        pool=pool,
        directory=directory,
        policy=policy,
        task_queue=task_queue,
        ui_base_url="http://ui.test",
        approval_secret=SECRET,
    )
    async with serve(create_app(ctx)) as base:
        yield base


async def _submitted(base: str, title: str) -> str:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        created = await http.post("/v1/initiatives", json=submission(title=title), headers=auth("alice@example.com"))
        assert created.status_code == 201, created.text
        iid: str = created.json()["id"]
        for _ in range(100):
            queue = (await http.get("/v1/me/queue", headers=auth("paula@example.com"))).json()["items"]
            if iid in {i["id"] for i in queue}:
                return iid
            await asyncio.sleep(0.1)
    raise AssertionError("the initiative never reached the portfolio queue")


async def test_the_desk_lists_what_waits_and_signs_a_payload(desk: str) -> None:
    title = "<img src=x onerror=alert(1)> Desk OCR"
    iid = await _submitted(desk, title)
    url = f"{desk}/desk?initiative={iid}&token={token('paula@example.com')}"
    dom = await _chromium("--dump-dom", url)
    ARTIFACTS.mkdir(exist_ok=True)
    await _chromium("--window-size=1200,560", f"--screenshot={ARTIFACTS / 'desk.png'}", url)

    assert 'data-ready="true"' in dom, dom[-2000:]
    row = dom.split(f'data-id="{iid}"')[1].split("</tr>")[0]
    assert "your decision as portfolio" in row
    assert "in 13d 23h" in row
    assert f'href="http://ui.test/namespaces/default/workflows/initiative-{iid}"' in row
    assert "&lt;img src=x onerror=alert(1)&gt; Desk OCR" in row  # the title as text, never as markup
    assert "<img" not in row
    # Arrived by a notification's link: the payload is signed at once, ready to paste.
    shown = dom.split('id="payload-json">')[1].split("</pre>")[0]
    payload = json.loads(shown.replace("&quot;", '"'))
    assert (payload["approver"], payload["role"], payload["stage"]) == ("paula@example.com", "portfolio", "proposed")
    assert re.fullmatch(r"[\w.-]+", payload["token"])
    assert 'id="payload-update">approve<' in dom


async def test_the_cookie_reads_the_queue_and_mints_only_from_the_page(desk: str) -> None:
    iid = await _submitted(desk, "Cookie OCR")
    async with httpx.AsyncClient(base_url=desk, timeout=30) as anonymous:
        page = await anonymous.get(f"/desk?token={token('paula@example.com')}")
        assert page.status_code == 303
        assert page.cookies[TOKEN_COOKIE] == token("paula@example.com")
    cookie = {TOKEN_COOKIE: token("paula@example.com")}
    async with httpx.AsyncClient(base_url=desk, timeout=30, cookies=cookie) as http:
        assert (await http.get("/desk")).status_code == 200
        queue = await http.get("/v1/me/queue")
        assert queue.status_code == 200
        assert iid in {i["id"] for i in queue.json()["items"]}

        mint = f"/v1/initiatives/{iid}/approval-token"
        body = {"role": "portfolio", "action": "approve"}
        same = await http.post(mint, json=body, headers={"Sec-Fetch-Site": "same-origin"})
        assert same.status_code == 200, same.text
        # from another site, or a client that does not say: the cookie proves nothing
        for site in ("cross-site", "same-site", None):
            headers = {"Sec-Fetch-Site": site} if site else {}
            other = await http.post(mint, json=body, headers=headers)
            assert other.status_code == 401, (site, other.text)
        # and it never decides anything
        approve = await http.post(
            f"/v1/initiatives/{iid}/approve",
            json={"role": "portfolio"},
            headers={"Sec-Fetch-Site": "same-origin"},
        )
        assert approve.status_code == 401


async def test_a_delegate_sees_the_gate_and_signs_on_behalf(desk: str) -> None:
    iid = await _submitted(desk, "Delegated OCR")
    async with httpx.AsyncClient(base_url=desk, timeout=30) as http:
        named = await http.put(
            "/v1/me/delegate",
            json={"to": "ian@example.com", "until": "2099-01-01T00:00:00Z"},
            headers=auth("paula@example.com"),
        )
        assert named.status_code == 422  # more than a year ahead
        until = (datetime.now(UTC) + timedelta(days=2)).isoformat()
        named = await http.put(
            "/v1/me/delegate", json={"to": "ian@example.com", "until": until}, headers=auth("paula@example.com")
        )
        assert named.status_code == 200, named.text
        try:
            dom = await _chromium("--dump-dom", f"{desk}/desk?initiative={iid}&token={token('ian@example.com')}")
        finally:
            await http.delete("/v1/me/delegate", headers=auth("paula@example.com"))

    assert 'data-ready="true"' in dom, dom[-2000:]
    row = dom.split(f'data-id="{iid}"')[1].split("</tr>")[0]
    assert 'data-for="paula@example.com"' in row
    assert "your decision as portfolio for paula@example.com" in row
    shown = dom.split('id="payload-json">')[1].split("</pre>")[0]
    payload = json.loads(shown.replace("&quot;", '"'))
    assert (payload["approver"], payload["on_behalf_of"], payload["role"]) == (
        "ian@example.com",
        "paula@example.com",
        "portfolio",
    )
