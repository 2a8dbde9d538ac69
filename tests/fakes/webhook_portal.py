"""A fake provisioning portal speaking the signed webhook contract of ``activities.adapters.webhook``.

It checks the ``Liftoff-Signature`` header on every request (401 ``{"error": "bad signature"}``
otherwise), keeps environments in memory keyed by idempotency key, turns a pending environment ready
(or failed, if told to) after ``ready_after_polls`` status reads, and can inject faults.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, ValidationError

from activities.adapters.webhook import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, verify


@dataclass
class FakeEnvironment:
    """One environment the portal holds."""

    id: str
    idempotency_key: str
    request: dict[str, Any]
    status: str = "pending"
    ttl_seconds: int | None = None
    polls: int = 0
    error_type: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class RecordedRequest:
    """A request that passed the signature check."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class _Fault:
    status: int
    retry_after: float | None
    apply_first: bool


@dataclass
class FakePortalState:
    """What the fake holds and how it is told to misbehave."""

    secret: bytes
    ready_after_polls: int = 2
    delay_seconds: float = 0
    tolerance_seconds: float = 300
    environments: dict[str, FakeEnvironment] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    rejected_signatures: int = 0
    #: When set, environments end ``failed`` with this (error_type, error) instead of ``ready``.
    outcome_failure: tuple[str | None, str] | None = None
    faults: deque[_Fault] = field(default_factory=deque)

    def fail_next(
        self, status: int, times: int = 1, retry_after: float | None = None, apply_first: bool = False
    ) -> None:
        """Answer the next ``times`` signed requests with ``status``; with ``apply_first``, do the work first."""
        self.faults.extend(_Fault(status, retry_after, apply_first) for _ in range(times))

    def fail_environments(self, error_type: str | None, error: str = "provisioning failed") -> None:
        """Make pending environments end ``failed`` (with ``error_type``, if given) instead of ``ready``."""
        self.outcome_failure = (error_type, error)

    def by_key(self, idempotency_key: str) -> FakeEnvironment | None:
        """The environment created for ``idempotency_key``, if any."""
        return next((e for e in self.environments.values() if e.idempotency_key == idempotency_key), None)


class _CreateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    idempotency_key: str
    initiative_id: str
    environment: str
    gpu_type: str | None
    gpu_count: int
    storage_tb: float
    budget_usd: float
    ttl_seconds: int | None


class _RenewBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ttl_seconds: int


class _BadSignatureError(Exception):
    pass


def _fault_response(fault: _Fault) -> Response:
    headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
    return JSONResponse({"error": "injected fault"}, status_code=fault.status, headers=headers)


def _answer(fault: _Fault | None, content: dict[str, Any], status: int) -> Response:
    """The real answer, or the injected fault's when it was applied after doing the work."""
    return _fault_response(fault) if fault is not None else JSONResponse(content, status_code=status)


def _not_found() -> Response:
    return JSONResponse({"error": "no such environment"}, status_code=404)


def _view(request: Request, env: FakeEnvironment) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": env.id,
        "status": env.status,
        "status_url": str(request.url_for("get_environment", env_id=env.id)),
        "environment": env.request["environment"],
        "cost_usd": 0,
        "ttl_seconds": env.ttl_seconds,
    }
    if env.status == "failed":
        out["error"] = env.error
        if env.error_type:
            out["error_type"] = env.error_type
    return out


class _Portal:
    """The route handlers over one ``FakePortalState``."""

    def __init__(self, state: FakePortalState) -> None:
        self.state = state

    async def _admit(self, request: Request) -> tuple[bytes, _Fault | None]:
        """Verify the signature, record the request, wait the injected delay and pop the next fault."""
        state = self.state
        body = await request.body()
        if not verify(state.secret, request.headers.get(SIGNATURE_HEADER), body, time.time(), state.tolerance_seconds):
            state.rejected_signatures += 1
            raise _BadSignatureError
        state.requests.append(RecordedRequest(request.method, request.url.path, dict(request.headers), body))
        if state.delay_seconds:
            await asyncio.sleep(state.delay_seconds)
        return body, state.faults.popleft() if state.faults else None

    async def create(self, request: Request) -> Response:
        body, fault = await self._admit(request)
        if fault is not None and not fault.apply_first:
            return _fault_response(fault)
        try:
            spec = _CreateBody.model_validate_json(body)
        except ValidationError as err:
            return JSONResponse({"error": str(err)}, status_code=422)
        if request.headers.get(IDEMPOTENCY_HEADER) != spec.idempotency_key:
            return JSONResponse({"error": "Idempotency-Key header does not match the body"}, status_code=400)
        existing = self.state.by_key(spec.idempotency_key)
        if existing is not None:
            return _answer(fault, _view(request, existing), 200)
        env = FakeEnvironment(
            id=f"env-{uuid.uuid4().hex[:10]}",
            idempotency_key=spec.idempotency_key,
            request=spec.model_dump(),
            status="pending" if self.state.ready_after_polls > 0 else "ready",
            ttl_seconds=spec.ttl_seconds,
        )
        self.state.environments[env.id] = env
        return _answer(fault, _view(request, env), 202 if env.status == "pending" else 201)

    async def get(self, request: Request, env_id: str) -> Response:
        _, fault = await self._admit(request)
        if fault is not None and not fault.apply_first:
            return _fault_response(fault)
        env = self.state.environments.get(env_id)
        if env is None:
            return _not_found()
        env.polls += 1
        if env.status == "pending" and env.polls >= self.state.ready_after_polls:
            if self.state.outcome_failure is None:
                env.status = "ready"
            else:
                env.status = "failed"
                env.error_type, env.error = self.state.outcome_failure
        return _answer(fault, _view(request, env), 200)

    async def renew(self, request: Request, env_id: str) -> Response:
        body, fault = await self._admit(request)
        if fault is not None and not fault.apply_first:
            return _fault_response(fault)
        env = self.state.environments.get(env_id)
        if env is None:
            return _not_found()
        try:
            ttl_seconds = _RenewBody.model_validate_json(body).ttl_seconds
        except ValidationError as err:
            return JSONResponse({"error": str(err)}, status_code=422)
        if env.status != "deprovisioned":
            env.ttl_seconds = ttl_seconds
        return _answer(fault, _view(request, env), 200)

    async def delete(self, request: Request, env_id: str) -> Response:
        _, fault = await self._admit(request)
        if fault is not None and not fault.apply_first:
            return _fault_response(fault)
        env = self.state.environments.get(env_id)
        if env is None:
            return _not_found()
        env.status = "deprovisioned"
        return _answer(fault, _view(request, env), 200)


async def _bad_signature(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": "bad signature"}, status_code=401)


def create_fake_portal(
    secret: bytes, *, ready_after_polls: int = 2, delay_seconds: float = 0, tolerance_seconds: float = 300
) -> tuple[FastAPI, FakePortalState]:
    """A FastAPI app implementing the webhook contract, and the state a test inspects and steers."""
    state = FakePortalState(
        secret=secret,
        ready_after_polls=ready_after_polls,
        delay_seconds=delay_seconds,
        tolerance_seconds=tolerance_seconds,
    )
    portal = _Portal(state)
    app = FastAPI()
    app.add_exception_handler(_BadSignatureError, _bad_signature)
    app.add_api_route("/environments", portal.create, methods=["POST"])
    app.add_api_route("/environments/{env_id}", portal.get, methods=["GET"], name="get_environment")
    app.add_api_route("/environments/{env_id}", portal.renew, methods=["PATCH"])
    app.add_api_route("/environments/{env_id}", portal.delete, methods=["DELETE"])
    return app, state
