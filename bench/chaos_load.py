"""The chaos harness's load: initiatives driven through the HTTP API from submission to production.

Each initiative is a small state machine that reads the live status before every decision and
derives the next decision from it, so a decision whose answer was lost (connection dropped, 502/503/504,
timeout) is never sent twice blindly: the status re-read after the failure shows whether it went
through. A 409 that follows such an uncertain attempt, saying the decision was already made or the
stage moved on, is expected; any other 409 is recorded. Every 500 is recorded with its request as a
defect; the driver then re-reads the status like after any uncertain answer.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

TRANSIENT_STATUSES = frozenset({502, 503, 504})
POLL_S = 0.3
#: Fragments of the validators' refusals that mean "this decision was already made / the stage moved on".
ALREADY_DONE = ("already", "meant for stage", "no further")
MAX_UNEXPECTED_409 = 5

#: Who takes each decision (demo principals of ``worker.demo``).
SUBMITTER = "alice"
READER = "vic"
GATE_APPROVERS: dict[str, tuple[tuple[str, str], ...]] = {
    "proposed": (("portfolio", "paula"),),
    "poc": (("business_owner", "bob"),),
    "infra_review": (("infrastructure", "ian"),),
    "it_signoff": (("it_operations", "olga"), ("business_owner", "bob")),
}
POC_RESULTS: dict[str, Any] = {"metrics": {"auc": 0.9}, "spend_usd": 1000, "summary": "chaos harness PoC"}
BUSINESS_UNITS = ("finance", "retail", "operations", "marketing")
GPU_TYPES = ("nvidia-l4", "nvidia-t4", "nvidia-a100")


def submission_body(index: int, rng: random.Random) -> dict[str, Any]:
    """A valid submission of team ml-platform, risk tier limited, that passes every IT standard."""
    return {
        "title": f"Chaos initiative {index}",
        "summary": "Driven by bench.chaos through faults",
        "team": "ml-platform",
        "business_unit": rng.choice(BUSINESS_UNITS),
        "sponsor": "cfo@example.com",
        "risk_tier": "limited",
        "data_classification": "internal",
        "procurement": rng.choice(("it_plan", "separate")),
        "budget_usd": rng.randrange(20_000, 200_000, 1000),
        "infrastructure": {
            "deployment_target": "public_cloud",
            "containerized": True,
            "gpu_type": rng.choice(GPU_TYPES),
            "gpu_count": rng.randint(1, 4),
            "storage_tb": 1,
            "integrations": ["crm"],
            "expected_peak_qps": 10,
        },
        "poc_success_criteria": [{"metric": "auc", "operator": ">=", "target": 0.8}],
    }


@dataclass(frozen=True)
class Answer:
    """One HTTP exchange: a status code, or None when no answer came (connection error, timeout)."""

    status: int | None
    body: Any
    error: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def transient(self) -> bool:
        """Connection errors, timeouts and 502/503/504: retry after re-reading the status."""
        return self.status is None or self.status in TRANSIENT_STATUSES

    @property
    def message(self) -> str:
        """The answer's ``detail`` (or its text) for reports."""
        if isinstance(self.body, dict) and "detail" in self.body:
            return str(self.body["detail"])
        return self.error or str(self.body)[:300]


@dataclass(frozen=True)
class ServerError:
    """A 5xx answer, with what was asked and during which fault."""

    at: float
    method: str
    path: str
    status: int
    fault: str
    detail: str


@dataclass
class RequestStats:
    """Every answer of the API by status (``/readyz`` probes excluded), and the 5xx in detail."""

    by_status: Counter[int] = field(default_factory=Counter)
    no_answer: int = 0
    server_errors: list[ServerError] = field(default_factory=list)
    #: When decisions were answered 200 (applied): the first one after a restart shows progress again.
    decisions_applied: list[float] = field(default_factory=list)

    def count_5xx(self) -> dict[int, int]:
        """5xx answers by status."""
        return {code: n for code, n in sorted(self.by_status.items()) if code >= 500}


@dataclass(frozen=True)
class AckedDecision:
    """A decision the API acknowledged (200, or 202 while PostgreSQL is down)."""

    stage: str
    action: str
    role: str | None
    person: str
    status: int
    at: float


@dataclass
class Initiative:
    """One logical submission (one Idempotency-Key) and what happened to it."""

    index: int
    key: str
    body: dict[str, Any]
    started: float = 0.0
    ended: float | None = None
    ids: list[str] = field(default_factory=list)
    acked_at: float | None = None
    outcome: str = "not started"
    decisions: list[AckedDecision] = field(default_factory=list)
    uncertain: set[tuple[str, str, str | None]] = field(default_factory=set)
    excused_409: list[str] = field(default_factory=list)
    unexpected_409: list[str] = field(default_factory=list)
    transient: int = 0
    last_view: dict[str, Any] | None = None

    @property
    def id(self) -> str | None:
        """The initiative id the API acknowledged first."""
        return self.ids[0] if self.ids else None


@dataclass(frozen=True)
class Step:
    """The next decision: ``action`` sent by ``person`` with ``body`` (the stage is added when sending)."""

    action: str
    person: str
    role: str | None
    body: dict[str, Any]


def next_step(view: dict[str, Any]) -> Step | str:
    """The decision the live status calls for, or a sentence saying why to wait (or stop) instead."""
    stage = str(view["stage"])
    awaiting = set(view.get("awaiting_roles") or [])
    if stage == "poc":
        poc = view.get("poc")
        if poc is None:
            return Step("submit-poc-results", SUBMITTER, None, dict(POC_RESULTS))
        if not poc.get("met"):
            return f"stop: PoC results recorded but not met: {poc.get('unmet')}"
    if stage == "infra_review":
        if view.get("assessment_pending"):
            return "wait: assessment running"
        blocking = [f["id"] for f in view.get("findings") or [] if f.get("blocking") and f.get("status") == "open"]
        if blocking:
            return f"stop: blocking findings open: {blocking}"
    for role, person in GATE_APPROVERS.get(stage, ()):
        if role in awaiting:
            return Step("approve", person, role, {"role": role})
    return f"wait: stage {stage}"


class Api:
    """The API as the load sees it: bearer tokens per person, every answer counted."""

    def __init__(self, http: httpx.AsyncClient, tokens: dict[str, str], fault: Callable[[], str]) -> None:
        self.http = http
        self.tokens = tokens
        self.fault = fault
        self.stats = RequestStats()
        #: Seconds each acknowledged submission took (the API-kill fault aims inside this).
        self.submit_latency: list[float] = []

    def auth(self, person: str) -> dict[str, str]:
        """The Authorization header of a demo person (``alice`` → alice@demo.liftoff's token)."""
        return {"Authorization": f"Bearer {self.tokens[f'{person}@demo.liftoff']}"}

    async def call(
        self,
        method: str,
        path: str,
        person: str,
        *,
        json: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        http: httpx.AsyncClient | None = None,
        timeout: float | None = None,
    ) -> Answer:
        """Send one request; transport errors become an Answer without status."""
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        started = time.monotonic()
        try:
            response = await (http or self.http).request(
                method, path, json=json, headers={**self.auth(person), **(headers or {})}, **extra
            )
        except httpx.TransportError as err:
            self.stats.no_answer += 1
            return Answer(None, None, f"{type(err).__name__}: {err}")
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text[:2000]
        self.stats.by_status[response.status_code] += 1
        if method == "POST" and path == "/v1/initiatives" and response.status_code == 201:
            self.submit_latency.append(time.monotonic() - started)
        elif method == "POST" and path.count("/") == 4 and response.status_code == 200:
            self.stats.decisions_applied.append(time.monotonic())
        if response.status_code >= 500:
            detail = body.get("detail", body) if isinstance(body, dict) else body
            self.stats.server_errors.append(
                ServerError(time.monotonic(), method, path, response.status_code, self.fault(), str(detail)[:500])
            )
        return Answer(response.status_code, body, headers=dict(response.headers))


class LoadDriver:
    """Drives ``total`` initiatives, at most ``concurrency`` at once.

    While faults remain, each initiative thinks about ``think_s`` seconds before each decision, so that
    the load lasts as long as the fault schedule and faults hit initiatives in every stage.
    """

    def __init__(
        self, api: Api, *, total: int, concurrency: int, think_s: float, rng: random.Random, key_prefix: str
    ) -> None:
        self.api = api
        self.total = total
        self.concurrency = concurrency
        self.think_s = think_s
        self.rng = rng
        self.key_prefix = key_prefix
        self.records: list[Initiative] = []
        self.deadline = float("inf")
        self.in_flight = 0
        self._next = 0
        self._released = asyncio.Event()
        self._adopted: list[asyncio.Task[None]] = []
        self._stopping = False

    # ----------------------------------------------------------------- bookkeeping

    def new_record(self, *, extra: bool = False) -> Initiative | None:
        """Claim the next logical submission, or None when all ``total`` are claimed (unless ``extra``)."""
        if self._next >= self.total:
            if not extra:
                return None
            self.total += 1
        index = self._next
        self._next += 1
        record = Initiative(index, f"{self.key_prefix}-{index}", submission_body(index, self.rng))
        self.records.append(record)
        return record

    def release(self) -> None:
        """No fault remains: no more thinking, finish as fast as the system allows."""
        self._released.set()

    def stop(self) -> None:
        """Make every driver give up at its next step (used when the harness itself fails)."""
        self._stopping = True
        self.deadline = 0.0

    @property
    def finished(self) -> bool:
        """Every logical submission is claimed and none is in flight."""
        return self._next >= self.total and self.in_flight == 0

    def counts(self) -> dict[str, int]:
        """Progress counters for the progress line."""
        acked = sum(1 for r in self.records if r.acked_at is not None)
        done = sum(1 for r in self.records if r.outcome == "production")
        return {"claimed": self._next, "acked": acked, "production": done, "in_flight": self.in_flight}

    def _expired(self) -> bool:
        return self._stopping or time.monotonic() > self.deadline

    async def _backoff(self, attempt: int) -> None:
        await asyncio.sleep(min(5.0, 0.25 * 2 ** min(attempt, 5)) * self.rng.uniform(0.5, 1.0))

    # ----------------------------------------------------------------- running

    async def run(self) -> None:
        """Drive every logical submission (claimed here, not by a fault) to its end."""
        gate = asyncio.Semaphore(self.concurrency)
        tasks: list[asyncio.Task[None]] = []
        while True:
            await gate.acquire()
            record = self.new_record()
            if record is None:
                gate.release()
                break

            async def one(record: Initiative = record) -> None:
                try:
                    await self.drive(record)
                finally:
                    gate.release()

            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)

    async def join_adopted(self) -> None:
        """Wait for the initiatives handed over by faults."""
        while self._adopted:
            await self._adopted.pop()

    async def think(self) -> None:
        """Wait a random think time before a decision, unless the faults are over."""
        if self._released.is_set() or self.think_s <= 0:
            return
        try:
            await asyncio.wait_for(self._released.wait(), self.think_s * self.rng.uniform(0.5, 1.5))
        except TimeoutError:
            return

    def adopt(self, record: Initiative) -> None:
        """Drive the decisions of an initiative a fault submitted (the API-kill probe)."""
        self._adopted.append(asyncio.create_task(self.drive(record, submitted=True)))

    async def drive(self, record: Initiative, *, submitted: bool = False) -> None:
        """Submit (unless done already), then decide until production or the deadline."""
        self.in_flight += 1
        try:
            if not submitted:
                await self.think()
                record.started = time.monotonic()
                if not await self.submit(record):
                    return
            await self._advance(record)
        finally:
            self.in_flight -= 1
            record.ended = time.monotonic()

    async def submit(self, record: Initiative, *, http: httpx.AsyncClient | None = None) -> bool:
        """POST the submission with its Idempotency-Key until acknowledged; True when it was."""
        record.outcome = "submitting"
        attempt = 0
        while not self._expired():
            answer = await self.api.call(
                "POST",
                "/v1/initiatives",
                SUBMITTER,
                json=record.body,
                headers={"Idempotency-Key": record.key},
                http=http,
            )
            if answer.status in (200, 201, 202) and isinstance(answer.body, dict) and answer.body.get("id"):
                initiative_id = str(answer.body["id"])
                if initiative_id not in record.ids:
                    record.ids.append(initiative_id)
                if record.acked_at is None:
                    record.acked_at = time.monotonic()
                record.outcome = "submitted"
                return True
            if answer.transient or answer.status == 500:
                record.transient += answer.transient
                attempt += 1
                await self._backoff(attempt)
                continue
            record.outcome = f"submission refused: {answer.status} {answer.message}"
            return False
        record.outcome = "deadline passed before the submission was acknowledged"
        return False

    async def status(self, record: Initiative) -> dict[str, Any] | None:
        """The live status, retried through transient failures; None at the deadline or for an unknown id."""
        assert record.id is not None
        attempt = 0
        not_found = 0
        while not self._expired():
            answer = await self.api.call("GET", f"/v1/initiatives/{record.id}", READER)
            if answer.status == 200 and isinstance(answer.body, dict):
                record.last_view = answer.body
                return answer.body
            if answer.status == 404:
                not_found += 1
                if not_found >= 10:
                    record.outcome = f"acknowledged initiative unknown to the API: 404 {answer.message}"
                    return None
            elif not (answer.transient or answer.status == 500):
                record.outcome = f"status read refused: {answer.status} {answer.message}"
                return None
            attempt += 1
            await self._backoff(attempt)
        record.outcome = f"deadline passed at stage {(record.last_view or {}).get('stage', '?')}"
        return None

    @staticmethod
    def _ended(record: Initiative, view: dict[str, Any]) -> bool:
        """Whether the initiative is where no decision of ours can move it (production, or something unexpected)."""
        stage, status = str(view["stage"]), str(view["status"])
        if stage == "production":
            record.outcome = "production"
        elif stage == "scrapped":
            record.outcome = f"scrapped: {view.get('reason_code')} {view.get('reason_detail', '')}"
        elif status == "on_hold":
            record.outcome = "on hold (nobody held it)"
        else:
            return False
        return True

    async def _advance(self, record: Initiative) -> None:
        attempt = 0
        thought = False
        while True:
            view = await self.status(record)
            if view is None or self._ended(record, view):
                return
            step = next_step(view)
            if isinstance(step, str):
                if step.startswith("stop:"):
                    record.outcome = step
                    return
                await asyncio.sleep(POLL_S)
                continue
            if not thought and not attempt:
                # Think, then read the status again: every decision is sent with the stage read just before it.
                await self.think()
                thought = True
                continue
            thought = False
            answer = await self._decide(record, step, str(view["stage"]))
            if answer is None:
                return
            attempt = attempt + 1 if answer.transient or answer.status == 500 else 0
            if attempt:
                await self._backoff(attempt)

    async def _decide(self, record: Initiative, step: Step, stage: str) -> Answer | None:
        assert record.id is not None
        what = (stage, step.action, step.role)
        answer = await self.api.call(
            "POST", f"/v1/initiatives/{record.id}/{step.action}", step.person, json={**step.body, "stage": stage}
        )
        if answer.status in (200, 202):
            record.decisions.append(
                AckedDecision(stage, step.action, step.role, step.person, answer.status, time.monotonic())
            )
            if answer.status == 202:
                record.uncertain.add(what)  # accepted, maybe not applied yet: a later "already" is expected
            return answer
        if answer.transient or answer.status == 500:
            # A 500 is counted as a defect by Api.call; like a lost answer, only the status can tell what happened.
            record.transient += answer.transient
            record.uncertain.add(what)
            return answer
        if answer.status == 409:
            line = f"{step.action} {step.role or ''} at {stage}: {answer.message}"
            if what in record.uncertain and any(word in answer.message for word in ALREADY_DONE):
                record.excused_409.append(line)
            else:
                record.unexpected_409.append(line)
                if len(record.unexpected_409) >= MAX_UNEXPECTED_409:
                    record.outcome = f"gave up after {MAX_UNEXPECTED_409} unexpected refusals (last: {line})"
                    return None
            return answer
        record.outcome = f"decision refused: {step.action} at {stage}: {answer.status} {answer.message}"
        return None
