"""Generic HTTP webhook provisioner: liftoff asks a portal for an environment and polls until it is ready.

Use it in front of Terraform Cloud, Crossplane or an in-house portal: the portal implements the small
contract below (we define it; nothing else is assumed), and liftoff signs every request so the portal
knows the caller holds the shared secret.

Contract (what a portal must implement)
=======================================

``{url}`` is ``WebhookConfig.url`` without a trailing slash. Bodies are JSON (``Content-Type:
application/json``); every answer that carries an environment uses the *environment object*::

    {
      "id": "env-123",                # required: the portal's id; liftoff stores it as Resource.ref
      "status": "pending",            # required: "pending" | "ready" | "failed" | "deprovisioned"
      "status_url": "https://...",    # URL liftoff polls; required while "pending" (see below)
      "environment": "production",    # should echo the requested environment
      "cost_usd": 0,                  # optional number, default 0
      "error_type": "CapacityQuotaUnavailable",  # optional, only when "failed"
      "error": "no H100 quota left"   # optional human-readable reason, only when "failed"
    }

Unknown fields are ignored, so a portal may add its own.

``POST {url}/environments`` — create an environment. Body::

    {"idempotency_key": "...", "initiative_id": "...", "environment": "production",
     "gpu_type": "H100" | null, "gpu_count": 8, "storage_tb": 2.0, "budget_usd": 50000.0,
     "ttl_seconds": 86400 | null}

  ``initiative_id`` is sent exactly as liftoff holds it. The key is also sent in an
  ``Idempotency-Key`` header (same value). Answer ``201`` (created, may already be ``ready``) or
  ``202`` (accepted, ``pending``) with the environment object. **Idempotency is the portal's job:** a
  POST whose ``idempotency_key`` was seen before must not create a second environment; answer ``200``
  with the existing one (whatever its status). liftoff retries a POST whenever it did not get a 2xx
  answer — including after the portal created the environment and then failed to answer — so this
  rule is what keeps "exactly one environment per key".

``GET {status_url}`` — poll. liftoff polls every ``poll_interval_seconds`` while the status is
  ``pending``: ``ready`` ends provisioning; ``failed`` ends it for good (see errors). ``status_url``
  may be absolute or relative to ``{url}/``; it must stay on the same scheme, host and port as
  ``{url}`` (liftoff refuses to send signed requests elsewhere). If it is missing, liftoff polls
  ``GET {url}/environments/{id}``.

``GET {url}/environments/{id}`` — the environment object (``200``), or ``404`` if unknown.

``PATCH {url}/environments/{id}`` with ``{"ttl_seconds": N}`` — extend the time to live to N seconds
  from now; ``200`` with the environment object (a deprovisioned one is returned unchanged), ``404``
  if unknown.

``DELETE {url}/environments/{id}`` — tear down; ``200`` with the environment object (status
  ``deprovisioned``) or ``204``. Deleting twice must be harmless: answer ``200`` again, or ``404``,
  which liftoff also reads as "already gone".

Errors: answer 4xx for requests that will never succeed (liftoff does not retry 400, 401, 403, 404,
409, 422), ``429`` or 5xx for transient trouble (liftoff retries, honouring ``Retry-After`` in
seconds). Reject a bad signature with ``401``.

Request signing
===============

Modelled on Stripe's ``Stripe-Signature`` (a timestamp inside the signed payload, so a captured
request cannot be replayed later) rather than GitHub's ``X-Hub-Signature-256: sha256=<hex>``, which
signs the body alone and therefore never expires. Every request carries::

    Liftoff-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>

The raw body is the exact bytes sent (empty for GET and DELETE). To verify, a portal: splits the
header on ``,`` and each item on the first ``=``; takes ``t`` and every ``v1`` (more than one may be
sent during a secret rotation; unknown schemes are ignored, so a future ``v2`` can be added without
breaking verifiers); rejects the request if ``|now - t| > 300`` seconds; computes the HMAC over
``f"{t}.".encode() + raw_body`` with the shared secret and compares it with each ``v1`` in constant
time. :func:`verify` does exactly this and may be imported by a Python portal.

Limitation: like Stripe's, the signature covers the body but not the method or path, so within the
tolerance window a captured signature of an empty-body request (a GET) is also valid for any other
empty-body request, including a DELETE. Serve the portal over TLS; a future ``v2`` scheme could also
sign ``METHOD`` and path.

What liftoff raises (``temporalio.exceptions.ApplicationError``)
================================================================

* a ``failed`` environment: non-retryable, ``type`` = the body's ``error_type`` (for example
  ``CapacityQuotaUnavailable``), else ``ProvisioningFailed``;
* still ``pending`` after ``poll_timeout_seconds``: retryable ``ProvisioningTimeout`` (the rollout
  records it as ``PROVISIONING_DELAY``); the retried activity re-POSTs with the same key, gets the
  same environment and polls again;
* HTTP failures per :mod:`activities.adapters.http` with system ``Webhook`` (``WebhookUnauthorized``,
  ``WebhookUnavailable`` ...); timeouts and connection errors: retryable ``WebhookTimeout``;
* ``404`` on status or renew: non-retryable ``ResourceNotFound`` (as the built-in provisioner);
* an answer that breaks the contract: non-retryable ``WebhookBadResponse``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.adapters.http import check, timeout_error
from schemas.integrations import DeprovisionInput, ProvisionInput, RenewInput, Resource

SYSTEM = "Webhook"
PROVIDER = "webhook"
SIGNATURE_HEADER = "Liftoff-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SIGNATURE_SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300

log = logging.getLogger(__name__)


def _mac(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``Liftoff-Signature`` header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    return f"t={timestamp},{SIGNATURE_SCHEME}={_mac(secret, timestamp, body)}"


def verify(
    secret: bytes,
    header_value: str | None,
    body: bytes,
    now: float,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """Whether ``header_value`` signs ``body`` with ``secret`` at a time within ``tolerance_seconds`` of ``now``.

    Accepts any of several ``v1`` signatures (secret rotation) and ignores unknown schemes; a missing or
    malformed header is simply invalid.
    """
    if not header_value:
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header_value.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            return False
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif key == SIGNATURE_SCHEME:
            candidates.append(value)
    if timestamp is None or not candidates or abs(now - timestamp) > tolerance_seconds:
        return False
    expected = _mac(secret, timestamp, body)
    # Check every candidate so the time taken does not reveal which one matched.
    matches = [hmac.compare_digest(expected.encode(), candidate.encode()) for candidate in candidates]
    return any(matches)


class WebhookConfig(BaseModel):
    """Where the portal is and the secret shared with it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    secret: SecretStr
    timeout_seconds: float = 10
    poll_interval_seconds: float = 2
    poll_timeout_seconds: float = 600


class _PortalEnvironment(BaseModel):
    """The environment object of the contract, as the portal sends it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    status: str
    status_url: str | None = None
    environment: str = ""
    cost_usd: float = 0
    error_type: str | None = None
    error: str | None = None


def _bad_response(detail: str) -> ApplicationError:
    return ApplicationError(
        f"{SYSTEM} broke the provisioning contract: {detail}", type=f"{SYSTEM}BadResponse", non_retryable=True
    )


class WebhookProvisioner:
    """A :class:`~activities.provisioning.Provisioner` over the signed HTTP contract in this module's docstring."""

    def __init__(self, config: WebhookConfig, client: httpx.AsyncClient | None = None) -> None:
        self._config = config
        self._base = httpx.URL(config.url.rstrip("/") + "/")
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient()

    async def aclose(self) -> None:
        """Close the HTTP client if this provisioner created it."""
        if self._owns_client:
            await self._client.aclose()

    async def provision(self, inp: ProvisionInput) -> Resource:
        """Ask the portal for the environment and poll until it is ready (or failed, or too slow)."""
        payload = {
            "idempotency_key": inp.idempotency_key,
            "initiative_id": inp.initiative_id,
            "environment": inp.environment,
            "gpu_type": inp.gpu_type,
            "gpu_count": inp.gpu_count,
            "storage_tb": inp.storage_tb,
            "budget_usd": inp.budget_usd,
            "ttl_seconds": inp.ttl_seconds,
        }
        response = await self._send(
            "POST", self._url("environments"), payload, headers={IDEMPOTENCY_HEADER: inp.idempotency_key}
        )
        env = self._parse(response)
        log.info("webhook environment requested", extra={"ref": env.id, "status": env.status})
        poll_url: httpx.URL | None = None
        deadline = time.monotonic() + self._config.poll_timeout_seconds
        while True:
            if env.status == "ready":
                return self._resource(env, fallback_environment=inp.environment)
            if env.status == "failed":
                raise ApplicationError(
                    f"environment {env.id} failed to provision: {(env.error or 'no reason given')[:300]}",
                    type=env.error_type or "ProvisioningFailed",
                    non_retryable=True,
                )
            if env.status == "deprovisioned":
                raise ApplicationError(
                    f"environment {env.id} was deprovisioned before it became ready",
                    type="ProvisioningFailed",
                    non_retryable=True,
                )
            if env.status != "pending":
                raise _bad_response(f"unknown status {env.status[:50]!r} for environment {env.id}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ApplicationError(
                    f"environment {env.id} still pending after {self._config.poll_timeout_seconds:g}s",
                    type="ProvisioningTimeout",
                )
            if activity.in_activity():
                activity.heartbeat(env.id)
            poll_url = poll_url or self._poll_url(env)
            await asyncio.sleep(min(self._config.poll_interval_seconds, remaining))
            env = self._parse(await self._send("GET", poll_url))

    async def deprovision(self, inp: DeprovisionInput) -> Resource:
        """Delete the environment; one the portal no longer knows (404) counts as already gone.

        After a ``204`` or ``404`` the portal sent no environment object, so ``environment`` is empty.
        """
        response = await self._send("DELETE", self._env_url(inp.ref), check_status=False)
        if response.status_code in {404, 204}:
            return Resource(ref=inp.ref, provider=PROVIDER, environment="", status="deprovisioned")
        return self._resource(self._parse(check(response, SYSTEM)))

    async def status(self, ref: str) -> Resource:
        """The environment as the portal reports it now."""
        return self._resource(self._parse(await self._send("GET", self._env_url(ref), not_found=ref)))

    async def renew(self, inp: RenewInput) -> Resource:
        """Ask the portal to push the environment's expiry ``ttl_seconds`` from now."""
        response = await self._send(
            "PATCH", self._env_url(inp.ref), {"ttl_seconds": inp.ttl_seconds}, not_found=inp.ref
        )
        return self._resource(self._parse(response))

    def _url(self, path: str) -> httpx.URL:
        return self._base.join(path)

    def _env_url(self, ref: str) -> httpx.URL:
        # Quoted so the portal's id stays one path segment whatever it contains.
        return self._url("environments/" + quote(ref, safe=""))

    def _poll_url(self, env: _PortalEnvironment) -> httpx.URL:
        if not env.status_url:
            return self._env_url(env.id)
        url = self._base.join(env.status_url)
        if (url.scheme, url.host, url.port) != (self._base.scheme, self._base.host, self._base.port):
            raise _bad_response(f"status_url of environment {env.id} points to another host")
        return url

    async def _send(
        self,
        method: str,
        url: httpx.URL,
        payload: dict[str, Any] | None = None,
        *,
        headers: dict[str, str] | None = None,
        check_status: bool = True,
        not_found: str | None = None,
    ) -> httpx.Response:
        body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        signed = {
            SIGNATURE_HEADER: sign(self._config.secret.get_secret_value().encode(), int(time.time()), body),
            "Accept": "application/json",
            **(headers or {}),
        }
        if payload is not None:
            signed["Content-Type"] = "application/json"
        try:
            response = await self._client.request(
                method, url, content=body, headers=signed, timeout=self._config.timeout_seconds
            )
        except httpx.TransportError as err:
            raise timeout_error(SYSTEM, err) from err
        if not_found is not None and response.status_code == 404:
            raise ApplicationError(
                f"{SYSTEM} has no environment {not_found}", type="ResourceNotFound", non_retryable=True
            )
        return check(response, SYSTEM) if check_status else response

    @staticmethod
    def _parse(response: httpx.Response) -> _PortalEnvironment:
        try:
            return _PortalEnvironment.model_validate_json(response.content)
        except ValidationError as err:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in err.errors()[:3])
            raise _bad_response(
                f"{response.status_code} answer to {response.request.method} is not an environment ({problems})"
            ) from None

    @staticmethod
    def _resource(env: _PortalEnvironment, fallback_environment: str = "") -> Resource:
        return Resource(
            ref=env.id,
            provider=PROVIDER,
            environment=env.environment or fallback_environment,
            status=env.status,
            cost_usd=env.cost_usd,
        )
