"""Signing in with an OpenID provider: a real one on loopback (oidc-provider-mock), not hand-made JWTs.

People are known to the provider, not to liftoff: their groups grant roles and teams; the API checks
them, signs the decisions, and the workflow takes a signed decision in place of a roster lookup.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest
import pytest_asyncio
from oidc_provider_mock import run_server_in_thread
from temporalio.client import Client

from api.app import create_app
from api.context import ApiContext
from api.oidc import OidcVerifier
from api.principals import Directory, GroupEntry
from api.routes.auth import _safe_next as safe_next
from schemas.contract import workflow_id_for
from schemas.policy import Policy
from schemas.stages import Role
from schemas.status import InitiativeStatusView
from tests.api.conftest import submission
from worker.heartbeat import heartbeat
from worker.wiring import build_worker

CLIENT_ID = "liftoff-api"
SECRET = b"oidc-approval-secret"
GROUPS = [
    GroupEntry(group="ml-team", roles=[Role.SUBMITTER], teams=["ml-platform"]),
    GroupEntry(group="ai-board", roles=[Role.PORTFOLIO]),
    GroupEntry(group="business-owners", roles=[Role.BUSINESS_OWNER]),
]


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    """A real OpenID provider on loopback; its issuer URL."""
    with run_server_in_thread() as server:
        yield f"http://localhost:{server.server_port}"


async def id_token(issuer: str, email: str, groups: list[str], *, client_id: str = CLIENT_ID) -> str:
    """Sign ``email`` in at the provider (authorization code with PKCE) and return the ID token it issues."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    redirect = "http://api.test/auth/callback"
    async with httpx.AsyncClient(base_url=issuer, timeout=10) as http:
        await http.put(f"/users/{email}", json={"email": email, "groups": groups})
        params = {
            "client_id": client_id,
            "redirect_uri": redirect,
            "response_type": "code",
            "scope": "openid email",
            "state": "s",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        consent = await http.post("/oauth2/authorize", params=params, data={"sub": email})
        code = parse_qs(urlsplit(consent.headers["location"]).query)["code"][0]
        tokens = await http.post(
            "/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect,
                "code_verifier": verifier,
            },
            auth=(client_id, "any-secret"),
        )
        token: str = tokens.json()["id_token"]
        return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest_asyncio.fixture(loop_scope="session")
async def oidc_api(
    client: Client, pool: asyncpg.Pool, policy: Policy, provider: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The API trusting the provider (no static principals at all), with a worker sharing its approval secret."""
    queue = f"oidc-{uuid.uuid4()}"
    ctx = ApiContext(
        client=client,
        pool=pool,
        directory=Directory([], GROUPS),
        policy=policy,
        task_queue=queue,
        ui_base_url="http://ui.test",
        approval_secret=SECRET,
        oidc=OidcVerifier(provider, CLIENT_ID, leeway_seconds=0),
    )
    async with build_worker(client, pool, task_queue=queue, approval_secret=SECRET), heartbeat(pool, queue):
        transport = httpx.ASGITransport(app=create_app(ctx))
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test", timeout=30) as http:
            yield http


async def test_people_act_by_their_groups(oidc_api: httpx.AsyncClient, provider: str, client: Client) -> None:
    alice = await id_token(provider, "alice@corp.example", ["ml-team"])
    paula = await id_token(provider, "paula@corp.example", ["ai-board"])
    bob = await id_token(provider, "bob@corp.example", ["business-owners", "unrelated"])

    created = await oidc_api.post("/v1/initiatives", json=submission(), headers=bearer(alice))
    assert created.status_code == 201, created.text
    iid = created.json()["id"]
    # Nobody here is on a roster: the API checked paula's group and signed her approval.
    approved = await oidc_api.post(f"/v1/initiatives/{iid}/approve", json={"role": "portfolio"}, headers=bearer(paula))
    assert approved.status_code == 200, approved.text
    assert approved.json()["stage"] == "poc"
    results = await oidc_api.post(
        f"/v1/initiatives/{iid}/submit-poc-results", json={"metrics": {"f1": 0.95}}, headers=bearer(alice)
    )
    assert results.status_code == 200, results.text
    not_his_role = await oidc_api.post(
        f"/v1/initiatives/{iid}/approve", json={"role": "portfolio"}, headers=bearer(bob)
    )
    assert not_his_role.status_code == 403

    # The Web UI path: bob mints a token by his group and pastes the payload.
    minted = await oidc_api.post(
        f"/v1/initiatives/{iid}/approval-token", json={"role": "business_owner"}, headers=bearer(bob)
    )
    assert minted.status_code == 200, minted.text
    handle = client.get_workflow_handle(workflow_id_for(iid))
    view = await handle.execute_update("approve", minted.json()["ui_payload"], result_type=InitiativeStatusView)
    assert view.stage.value == "infra_review"
    events = (await oidc_api.get(f"/v1/initiatives/{iid}/events", headers=bearer(alice))).json()["events"]
    assert {(e["actor"], e["verified"]) for e in events if e["kind"] == "approved"} == {
        ("paula@corp.example", True),
        ("bob@corp.example", True),
    }


async def test_bad_tokens_are_401_with_the_reason(oidc_api: httpx.AsyncClient, provider: str) -> None:
    good = await id_token(provider, "alice@corp.example", ["ml-team"])
    assert (await oidc_api.get("/v1/initiatives", headers=bearer(good))).status_code == 200

    async def refused(token: str) -> str:
        response = await oidc_api.get("/v1/initiatives", headers=bearer(token))
        assert response.status_code == 401, response.text
        detail: str = response.json()["detail"]
        return detail

    other_audience = await id_token(provider, "alice@corp.example", ["ml-team"], client_id="another-app")
    assert "not meant for this API" in await refused(other_audience)
    header, payload, signature = good.split(".")
    claims = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).replace(b"ml-team", b"ai-board")
    altered = ".".join([header, base64.urlsafe_b64encode(claims).decode().rstrip("="), signature])
    assert "signature is invalid" in await refused(altered)
    assert await refused("not.a.jwt") == "the bearer token is not a JWT"
    with run_server_in_thread() as elsewhere:
        foreign = await id_token(f"http://localhost:{elsewhere.server_port}", "alice@corp.example", ["ml-team"])
    assert "was issued by" in await refused(foreign)
    nobody = await id_token(provider, "eve@corp.example", ["visitors"])
    response = await oidc_api.get("/v1/initiatives", headers=bearer(nobody))
    assert response.status_code == 403
    assert "none of your groups grants a role" in response.json()["detail"]


async def test_an_expired_token_is_401(pool: asyncpg.Pool, client: Client, policy: Policy) -> None:
    with run_server_in_thread(access_token_max_age=timedelta(seconds=1)) as server:
        issuer = f"http://localhost:{server.server_port}"
        ctx = ApiContext(
            client=client,
            pool=pool,
            directory=Directory([], GROUPS),
            policy=policy,
            task_queue="unused",
            ui_base_url="x",
            oidc=OidcVerifier(issuer, CLIENT_ID, leeway_seconds=0),
        )
        token = await id_token(issuer, "alice@corp.example", ["ml-team"])
        await asyncio.sleep(2.1)
        transport = httpx.ASGITransport(app=create_app(ctx))
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
            response = await http.get("/v1/initiatives", headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["detail"] == "the token has expired; sign in again"


async def test_the_dashboard_signs_people_in_with_pkce(
    pool: asyncpg.Pool, client: Client, policy: Policy, provider: str
) -> None:
    ctx = ApiContext(
        client=client,
        pool=pool,
        directory=Directory([], GROUPS),
        policy=policy,
        task_queue="unused",
        ui_base_url="x",
        oidc=OidcVerifier(provider, CLIENT_ID, leeway_seconds=0),
        oidc_client_secret=b"dashboard-client-secret",  # a confidential client; PKCE as well
        public_url="http://api.test",
    )
    transport = httpx.ASGITransport(app=create_app(ctx))
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://api.test") as browser,
        httpx.AsyncClient(base_url=provider) as idp,
    ):
        await idp.put("/users/paula@corp.example", json={"email": "paula@corp.example", "groups": ["ai-board"]})
        # Not signed in: the dashboard sends the browser to sign in, which sends it to the provider.
        first = await browser.get("/dashboard")
        assert (first.status_code, first.headers["location"]) == (302, "/auth/login?next=/dashboard")
        login = await browser.get("/auth/login?next=/dashboard")
        assert login.status_code == 302
        authorize = urlsplit(login.headers["location"])
        params = parse_qs(authorize.query)
        assert authorize.path == "/oauth2/authorize"
        assert params["code_challenge_method"] == ["S256"]
        assert params["redirect_uri"] == ["http://api.test/auth/callback"]
        # The person signs in at the provider, which sends the browser back with a code.
        consent = await idp.post("/oauth2/authorize", params=authorize.query, data={"sub": "paula@corp.example"})
        back = urlsplit(consent.headers["location"])
        assert back.path == "/auth/callback"
        tampered = await browser.get(f"/auth/callback?{back.query.replace('state=', 'state=x')}")
        assert tampered.status_code == 400
        signed_in = await browser.get(f"/auth/callback?{back.query}")
        assert signed_in.status_code == 303, signed_in.text
        assert signed_in.headers["location"] == "/dashboard"
        cookie = signed_in.headers["set-cookie"]
        assert "liftoff_token=" in cookie
        assert "HttpOnly" in cookie
        page = await browser.get("/dashboard")
        assert page.status_code == 200
        assert "<html" in page.text.lower()


@pytest.mark.parametrize(
    ("target", "goes_to"),
    [
        ("/dashboard?team=x", "/dashboard?team=x"),
        ("//evil.example/", "/dashboard"),
        ("https://evil.example/", "/dashboard"),
        ("javascript:alert(1)", "/dashboard"),
        ("/\\evil.example/", "/dashboard"),
    ],
)
def test_sign_in_never_redirects_off_site(target: str, goes_to: str) -> None:
    assert safe_next(target) == goes_to
