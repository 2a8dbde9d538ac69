"""The API app over the session's real Temporal and PostgreSQL, called through httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from temporalio.client import Client

from api.app import create_app
from api.context import ApiContext
from api.principals import Directory, PrincipalEntry, hash_token
from schemas.policy import Policy
from schemas.stages import Role
from worker.wiring import build_worker

#: email → (roles, teams); the token of each person is "token-<name>".
PEOPLE: dict[str, tuple[list[Role], list[str]]] = {
    "alice@example.com": ([Role.SUBMITTER], ["ml-platform"]),
    "mallory@example.com": ([Role.SUBMITTER], ["other-team"]),
    "paula@example.com": ([Role.PORTFOLIO], []),
    "bob@example.com": ([Role.BUSINESS_OWNER], []),
    "ian@example.com": ([Role.INFRASTRUCTURE], []),
    "olga@example.com": ([Role.IT_OPERATIONS], []),
    "vic@example.com": ([Role.VIEWER], []),
    "val@example.com": ([Role.VIEWER], ["ml-platform"]),
}


def token(email: str) -> str:
    """The test bearer token of ``email``."""
    return f"token-{email.split('@', maxsplit=1)[0]}"


def auth(email: str) -> dict[str, str]:
    """Authorization header for ``email``."""
    return {"Authorization": f"Bearer {token(email)}"}


def submission(**overrides: Any) -> dict[str, Any]:
    """A valid submission body as a team would POST it."""
    body: dict[str, Any] = {
        "title": "Invoice OCR",
        "summary": "Read supplier invoices",
        "team": "ml-platform",
        "business_unit": "finance",
        "sponsor": "cfo@example.com",
        "risk_tier": "limited",
        "data_classification": "internal",
        "procurement": "separate",
        "budget_usd": 40000,
        "infrastructure": {
            "deployment_target": "public_cloud",
            "containerized": True,
            "gpu_type": "nvidia-t4",
            "gpu_count": 1,
            "storage_tb": 0.5,
            "integrations": ["erp"],
            "expected_peak_qps": 3,
        },
        "poc_success_criteria": [{"metric": "f1", "operator": ">=", "target": 0.9}],
    }
    body.update(overrides)
    return body


@pytest.fixture(scope="session")
def directory() -> Directory:
    """The principals of these tests."""
    return directory_of(PEOPLE)


def directory_of(people: dict[str, tuple[list[Role], list[str]]]) -> Directory:
    """A directory of ``people`` (email → roles, teams), each with the test token of ``token``."""
    return Directory(
        [
            PrincipalEntry(email=email, roles=roles, teams=teams, token_sha256=hash_token(token(email)))
            for email, (roles, teams) in people.items()
        ]
    )


@pytest_asyncio.fixture(loop_scope="session")
async def api(
    client: Client, pool: asyncpg.Pool, task_queue: str, policy: Policy, directory: Directory
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the app, whose workflows run on this test's worker."""
    ctx = ApiContext(
        client=client,
        pool=pool,
        directory=directory,
        policy=policy,
        task_queue=task_queue,
        ui_base_url="http://ui.test",
    )
    async with app_client(ctx) as http:
        yield http


@asynccontextmanager
async def app_client(ctx: ApiContext) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client that calls the app of ``ctx`` in process."""
    transport = httpx.ASGITransport(app=create_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test", timeout=30) as http:
        yield http


@asynccontextmanager
async def signing_api(
    client: Client, pool: asyncpg.Pool, policy: Policy, directory: Directory, *, queue: str, secret: bytes
) -> AsyncIterator[httpx.AsyncClient]:
    """The app and a worker of its own sharing an approval secret: the API signs, the workflow verifies."""
    ctx = ApiContext(
        client=client,
        pool=pool,
        directory=directory,
        policy=policy,
        task_queue=queue,
        ui_base_url="http://ui.test",
        approval_secret=secret,
    )
    async with build_worker(client, pool, task_queue=queue, approval_secret=secret), app_client(ctx) as http:
        yield http
