"""Issue 12, holes 1 and 2: stored markup stays text on the dashboard, and its cookie cannot act."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from api.app import create_app
from api.context import TOKEN_COOKIE, ApiContext
from api.principals import Directory
from db import events_repo
from schemas.events import EventKind, InitiativeSnapshot, RecordEventsInput
from schemas.policy import Policy
from schemas.stages import InitiativeStatus, Stage
from schemas.taxonomy import ReasonCode
from tests.api.conftest import auth, submission, token
from tests.api.test_dashboard import CHROMIUM, T0, _chromium, _event
from tests.conftest import SUBMITTER, make_spec
from tests.fakes.server import serve

ATTACK = "<img src=x onerror=\"document.title='pwned';fetch('/v1/initiatives',{method:'POST'})\">"


async def _seed_hostile(pool: asyncpg.Pool, team: str) -> None:
    iid = f"xss{uuid.uuid4().hex[:10]}"
    events = [
        _event(iid, 1, EventKind.SUBMITTED, Stage.PROPOSED, 0),
        _event(iid, 2, EventKind.STAGE_ENTERED, Stage.PROPOSED, 0),
        _event(iid, 3, EventKind.STALLED, Stage.PROPOSED, 14, ReasonCode.APPROVAL_PENDING, {"roles": ["portfolio"]}),
    ]
    spec = make_spec(team=team, title=ATTACK, business_unit="<script>document.title='bu'</script>")
    snapshot = InitiativeSnapshot(
        initiative_id=iid,
        workflow_id=f"initiative-{iid}",
        spec=spec,
        submitter=SUBMITTER,
        policy_version="p1",
        stage=Stage.PROPOSED,
        status=InitiativeStatus.STALLED,
        stage_entered_at=T0,
        awaiting_roles=["<i>portfolio</i>"],
        submitted_at=T0,
    )
    async with pool.acquire() as conn:
        await events_repo.record_events(conn, RecordEventsInput(events=events, snapshot=snapshot))


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed (CI installs it)")
async def test_markup_in_every_field_renders_as_text(
    client: Client, pool: asyncpg.Pool, policy: Policy, directory: Directory
) -> None:
    team = f'<b onmouseover="x">team-{uuid.uuid4().hex[:6]}</b>'
    await _seed_hostile(pool, team)
    ctx = ApiContext(client=client, pool=pool, directory=directory, policy=policy, task_queue="unused", ui_base_url="x")
    async with serve(create_app(ctx)) as base:
        dom = await _chromium("--dump-dom", f"{base}/dashboard?team={quote(team)}&token={token('vic@example.com')}")
    assert 'data-ready="true"' in dom, dom[-2000:]
    table = dom.split('id="stalled-table"')[1].split("</table>")[0]
    assert "&lt;img src=x onerror=" in table  # the title, as text
    assert "&lt;b onmouseover=" in table  # the team, as text
    assert "&lt;i&gt;portfolio&lt;/i&gt;" in table
    assert "<img" not in dom
    assert "<title>liftoff — portfolio dashboard</title>" in dom  # no script ran to change it


async def test_security_headers_and_no_inline_script(api: httpx.AsyncClient) -> None:
    page = await api.get("/dashboard", headers=auth("vic@example.com"))
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in page.text  # only <script src=…>
    script = await api.get("/static/dashboard.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "innerHTML" not in script.text
    data = await api.get("/v1/taxonomy", headers=auth("vic@example.com"))
    assert data.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"


async def test_the_cookie_reads_reports_and_nothing_else(api: httpx.AsyncClient) -> None:
    iid = (await api.post("/v1/initiatives", json=submission(), headers=auth("alice@example.com"))).json()["id"]
    cookie = {TOKEN_COOKIE: token("paula@example.com")}
    api.cookies.update(cookie)
    try:
        assert (await api.get("/v1/reports/funnel")).status_code == 200
        assert (await api.get("/dashboard")).status_code == 200
        # What the stored script tried: approving as the leader whose cookie the browser holds.
        acted = await api.post(f"/v1/initiatives/{iid}/approve", json={"role": "portfolio"})
        assert acted.status_code == 401
        assert (await api.get("/v1/initiatives")).status_code == 401
        assert (await api.post("/v1/initiatives", json=submission())).status_code == 401
    finally:
        api.cookies.clear()


async def test_a_bad_token_in_the_address_never_replaces_a_good_cookie(api: httpx.AsyncClient) -> None:
    api.cookies.update({TOKEN_COOKIE: token("vic@example.com")})
    try:
        bad = await api.get("/dashboard?token=forged&team=x")
        assert (bad.status_code, bad.headers["location"]) == (303, "/dashboard?team=x")
        assert "set-cookie" not in bad.headers
        good = await api.get(f"/dashboard?token={token('paula@example.com')}")
        assert good.status_code == 303
        assert good.headers["location"] == "/dashboard"
        set_cookie = good.headers["set-cookie"]
        assert "HttpOnly" in set_cookie
        assert "SameSite=strict" in set_cookie
        assert "Secure" not in set_cookie  # plain http here
    finally:
        api.cookies.clear()


async def test_cookies_are_secure_over_https(
    client: Client, pool: asyncpg.Pool, policy: Policy, directory: Directory
) -> None:
    ctx = ApiContext(
        client=client,
        pool=pool,
        directory=directory,
        policy=policy,
        task_queue="unused",
        ui_base_url="x",
        public_url="https://liftoff.example",
    )
    transport = httpx.ASGITransport(app=create_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
        response = await http.get(f"/dashboard?token={token('vic@example.com')}")
    assert "Secure" in response.headers["set-cookie"]
