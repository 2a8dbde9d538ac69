"""The webhook provisioner against a fake portal that speaks the signed contract over real HTTP."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.adapters.webhook import SIGNATURE_HEADER, WebhookConfig, WebhookProvisioner, sign, verify
from schemas.integrations import DeprovisionInput, ProvisionInput, RenewInput, Resource
from tests.fakes.server import free_port, serve
from tests.fakes.webhook_portal import FakePortalState, create_fake_portal

SECRET = "portal-shared-secret-7f3a9c"
WRONG_SECRET = "not-the-portal-secret-41d2e8"


@contextlib.asynccontextmanager
async def running_portal(
    ready_after_polls: int = 2, delay_seconds: float = 0
) -> AsyncIterator[tuple[str, FakePortalState]]:
    app, state = create_fake_portal(SECRET.encode(), ready_after_polls=ready_after_polls, delay_seconds=delay_seconds)
    async with serve(app) as url:
        yield url, state


@contextlib.asynccontextmanager
async def provisioner(
    url: str, secret: str = SECRET, poll_timeout_seconds: float = 5, timeout_seconds: float = 5
) -> AsyncIterator[WebhookProvisioner]:
    config = WebhookConfig(
        url=url,
        secret=SecretStr(secret),
        timeout_seconds=timeout_seconds,
        poll_interval_seconds=0.01,
        poll_timeout_seconds=poll_timeout_seconds,
    )
    adapter = WebhookProvisioner(config)
    try:
        yield adapter
    finally:
        await adapter.aclose()


def request(
    key: str = "wf-1/production", initiative_id: str = "INIT-42", ttl_seconds: int | None = None
) -> ProvisionInput:
    return ProvisionInput(
        initiative_id=initiative_id,
        idempotency_key=key,
        environment="production",
        gpu_type="nvidia-h100",
        gpu_count=8,
        storage_tb=2.5,
        budget_usd=48000.0,
        ttl_seconds=ttl_seconds,
    )


async def test_provision_polls_until_ready_and_sends_the_contract_body() -> None:
    async with running_portal(ready_after_polls=3) as (url, state), provisioner(url) as adapter:
        resource = await adapter.provision(request(initiative_id="Init/ü 42?", ttl_seconds=3600))

    env = state.environments[resource.ref]
    assert resource == Resource(ref=env.id, provider="webhook", environment="production", status="ready")
    assert env.polls == 3
    assert [r.method for r in state.requests] == ["POST", "GET", "GET", "GET"]
    assert env.request == {
        "idempotency_key": "wf-1/production",
        "initiative_id": "Init/ü 42?",
        "environment": "production",
        "gpu_type": "nvidia-h100",
        "gpu_count": 8,
        "storage_tb": 2.5,
        "budget_usd": 48000.0,
        "ttl_seconds": 3600,
    }
    post = state.requests[0]
    assert post.headers["idempotency-key"] == "wf-1/production"
    assert json.loads(post.body)["idempotency_key"] == "wf-1/production"
    assert all(SIGNATURE_HEADER.lower() in r.headers for r in state.requests)
    assert state.rejected_signatures == 0


async def test_same_key_twice_gives_one_environment() -> None:
    async with running_portal() as (url, state), provisioner(url) as adapter:
        first = await adapter.provision(request())
        second = await adapter.provision(request())

    assert second == first
    assert list(state.environments) == [first.ref]


async def test_retry_after_a_500_that_followed_creation_finds_the_same_environment() -> None:
    async with running_portal() as (url, state), provisioner(url) as adapter:
        state.fail_next(500, apply_first=True)
        with pytest.raises(ApplicationError) as raised:
            await adapter.provision(request())
        assert raised.value.type == "WebhookUnavailable"
        assert raised.value.non_retryable is False
        assert len(state.environments) == 1

        resource = await adapter.provision(request())

    assert list(state.environments) == [resource.ref]
    assert resource.status == "ready"


async def test_failed_environment_raises_the_portals_error_type_for_good() -> None:
    async with running_portal() as (url, state), provisioner(url) as adapter:
        state.fail_environments("CapacityQuotaUnavailable", "no H100 quota left in eu-west-1")
        with pytest.raises(ApplicationError) as raised:
            await adapter.provision(request())

    assert raised.value.type == "CapacityQuotaUnavailable"
    assert raised.value.non_retryable is True
    assert "no H100 quota left in eu-west-1" in raised.value.message


async def test_failed_environment_without_error_type_is_provisioning_failed() -> None:
    async with running_portal() as (url, state), provisioner(url) as adapter:
        state.fail_environments(None, "terraform apply exited 1")
        with pytest.raises(ApplicationError) as raised:
            await adapter.provision(request())

    assert raised.value.type == "ProvisioningFailed"
    assert raised.value.non_retryable is True


async def test_poll_timeout_is_retryable_and_the_retry_resumes_the_same_environment() -> None:
    portal = running_portal(ready_after_polls=1_000_000)
    async with portal as (url, state), provisioner(url, poll_timeout_seconds=0.2) as adapter:
        started = time.monotonic()
        with pytest.raises(ApplicationError) as raised:
            await adapter.provision(request())
        elapsed = time.monotonic() - started
        assert raised.value.type == "ProvisioningTimeout"
        assert raised.value.non_retryable is False
        assert 0.2 <= elapsed < 2

        state.ready_after_polls = 0
        resource = await adapter.provision(request())

    assert list(state.environments) == [resource.ref]
    assert resource.status == "ready"


async def test_429_with_retry_after_is_retryable_with_that_delay() -> None:
    async with running_portal() as (url, state), provisioner(url) as adapter:
        state.fail_next(429, retry_after=7)
        with pytest.raises(ApplicationError) as raised:
            await adapter.provision(request())

    assert raised.value.type == "WebhookUnavailable"
    assert raised.value.non_retryable is False
    assert raised.value.next_retry_delay == timedelta(seconds=7)
    assert state.environments == {}


async def test_wrong_secret_is_unauthorized_for_good_and_never_shows_the_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with running_portal() as (url, state), provisioner(url, secret=WRONG_SECRET) as adapter:
        with pytest.raises(ApplicationError) as raised:
            await adapter.provision(request())

    assert raised.value.type == "WebhookUnauthorized"
    assert raised.value.non_retryable is True
    assert "bad signature" in raised.value.message
    assert state.rejected_signatures == 1
    assert state.environments == {}
    for text in (str(raised.value), raised.value.message, caplog.text, repr(adapter._config)):
        assert WRONG_SECRET not in text
        assert SECRET not in text


async def test_slow_portal_is_a_retryable_timeout() -> None:
    async with running_portal(delay_seconds=1) as (url, _state), provisioner(url, timeout_seconds=0.1) as adapter:
        with pytest.raises(ApplicationError) as raised:
            await adapter.provision(request())

    assert raised.value.type == "WebhookTimeout"
    assert raised.value.non_retryable is False


async def test_unreachable_portal_is_a_retryable_timeout() -> None:
    async with provisioner(f"http://127.0.0.1:{free_port()}") as adapter:
        with pytest.raises(ApplicationError) as raised:
            await adapter.status("env-1")

    assert raised.value.type == "WebhookTimeout"
    assert raised.value.non_retryable is False


async def test_deprovision_twice_is_harmless_and_unknown_counts_as_gone() -> None:
    async with running_portal() as (url, state), provisioner(url) as adapter:
        resource = await adapter.provision(request())
        first = await adapter.deprovision(DeprovisionInput(ref=resource.ref, reason="rollback"))
        second = await adapter.deprovision(DeprovisionInput(ref=resource.ref, reason="rollback"))
        unknown = await adapter.deprovision(DeprovisionInput(ref="env-never-existed"))
        after = await adapter.status(resource.ref)

    assert first == second == after
    assert first == Resource(ref=resource.ref, provider="webhook", environment="production", status="deprovisioned")
    assert unknown.ref == "env-never-existed"
    assert unknown.status == "deprovisioned"
    assert state.environments[resource.ref].status == "deprovisioned"
    assert [r.method for r in state.requests].count("DELETE") == 3


async def test_renew_extends_the_ttl_and_unknown_is_resource_not_found() -> None:
    async with running_portal() as (url, state), provisioner(url) as adapter:
        resource = await adapter.provision(request(ttl_seconds=3600))
        renewed = await adapter.renew(RenewInput(ref=resource.ref, ttl_seconds=7200))
        with pytest.raises(ApplicationError) as raised:
            await adapter.renew(RenewInput(ref="env-never-existed", ttl_seconds=60))

    assert renewed == resource
    assert state.environments[resource.ref].ttl_seconds == 7200
    assert json.loads(state.requests[-2].body) == {"ttl_seconds": 7200}
    assert raised.value.type == "ResourceNotFound"
    assert raised.value.non_retryable is True


async def test_status_reports_the_portals_view_and_unknown_is_resource_not_found() -> None:
    async with running_portal(ready_after_polls=0) as (url, _state), provisioner(url) as adapter:
        resource = await adapter.provision(request())
        current = await adapter.status(resource.ref)
        with pytest.raises(ApplicationError) as raised:
            await adapter.status("env/with slash")

    assert current == resource
    assert raised.value.type == "ResourceNotFound"


async def test_polling_heartbeats_inside_an_activity() -> None:
    heartbeats: list[Any] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: heartbeats.append(details)
    async with running_portal(ready_after_polls=3) as (url, _state), provisioner(url) as adapter:
        resource = await env.run(adapter.provision, request())

    assert heartbeats == [(resource.ref,)] * 3


async def test_status_url_on_another_host_is_refused() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        body = {"id": "env-1", "status": "pending", "status_url": "https://elsewhere.example/environments/env-1"}
        return httpx.Response(202, json=body)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    config = WebhookConfig(url="https://portal.example/api", secret=SecretStr(SECRET), poll_interval_seconds=0.01)
    adapter = WebhookProvisioner(config, client)
    with pytest.raises(ApplicationError) as raised:
        await adapter.provision(request())
    await client.aclose()

    assert raised.value.type == "WebhookBadResponse"
    assert raised.value.non_retryable is True


async def test_answer_that_is_not_an_environment_is_a_bad_response() -> None:
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda _req: httpx.Response(201, json={"ok": True})))
    adapter = WebhookProvisioner(WebhookConfig(url="https://portal.example", secret=SecretStr(SECRET)), client)
    with pytest.raises(ApplicationError) as raised:
        await adapter.provision(request())
    await client.aclose()

    assert raised.value.type == "WebhookBadResponse"
    assert raised.value.non_retryable is True


async def test_portal_rejects_a_replayed_old_signature() -> None:
    async with running_portal() as (url, state), httpx.AsyncClient() as client:
        stale = sign(SECRET.encode(), int(time.time()) - 600, b"")
        response = await client.get(f"{url}/environments/env-1", headers={SIGNATURE_HEADER: stale})
        unsigned = await client.get(f"{url}/environments/env-1")

    assert response.status_code == 401
    assert response.json() == {"error": "bad signature"}
    assert unsigned.status_code == 401
    assert state.rejected_signatures == 2


def test_sign_follows_the_documented_format() -> None:
    expected = hmac.new(b"k", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert sign(b"k", 1_700_000_000, b'{"a":1}') == f"t=1700000000,v1={expected}"


def test_verify_accepts_a_fresh_signature() -> None:
    header = sign(b"k", 1_700_000_000, b"body")
    assert verify(b"k", header, b"body", now=1_700_000_000 + 299) is True
    assert verify(b"k", header, b"body", now=1_700_000_000 - 299) is True


@pytest.mark.parametrize(
    ("secret", "body", "now"),
    [
        (b"k", b"body", 1_700_000_000 + 301),  # too old: a replay
        (b"k", b"body", 1_700_000_000 - 301),  # too far in the future
        (b"k", b"bodY", 1_700_000_000),  # tampered body
        (b"other", b"body", 1_700_000_000),  # wrong secret
    ],
)
def test_verify_rejects_stale_tampered_or_foreign_signatures(secret: bytes, body: bytes, now: int) -> None:
    assert verify(secret, sign(b"k", 1_700_000_000, b"body"), body, now=now) is False


@pytest.mark.parametrize(
    "header",
    [None, "", "garbage", "t=1700000000", "v1=abc", "t=soon,v1=abc", "t=1700000000,v1=", "t=1700000000;v1=abc"],
)
def test_verify_rejects_malformed_headers(header: str | None) -> None:
    assert verify(b"k", header, b"body", now=1_700_000_000) is False


def test_verify_accepts_any_v1_during_a_secret_rotation_and_ignores_unknown_schemes() -> None:
    new = sign(b"new", 1_700_000_000, b"body").split(",")[1]
    old = sign(b"old", 1_700_000_000, b"body").split(",")[1]
    header = f"t=1700000000,{new},{old},v2=future-scheme"
    assert verify(b"old", header, b"body", now=1_700_000_000) is True
    assert verify(b"new", header, b"body", now=1_700_000_000) is True
    assert verify(b"neither", header, b"body", now=1_700_000_000) is False
