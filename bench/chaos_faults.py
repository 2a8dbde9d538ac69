"""The chaos harness's faults: each one injected while load is in flight, and the time the system takes to recover.

Recovery means what a client sees: ``/readyz`` answers 200 and a live status read succeeds.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from bench.chaos_checks import Problem
from bench.chaos_load import Answer, Api, Initiative, LoadDriver
from bench.chaos_procs import Topology

if TYPE_CHECKING:
    from bench.chaos import ChaosConfig

FAULTS = ("worker", "postgres", "temporal", "api")
FAULT_LABELS = {
    "worker": "worker kill -9",
    "postgres": "postgres stop -m immediate",
    "temporal": "temporal kill -9",
    "api": "api kill -9 mid-submission",
}
API_KILL_ATTEMPTS = 3


@dataclass
class FaultRecord:
    """One injected fault and its timing (monotonic seconds)."""

    name: str
    injected_at: float
    restarted_at: float | None = None
    recovered_at: float | None = None
    applied_at: float | None = None
    in_flight: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """How the table names the fault."""
        return FAULT_LABELS[self.name]

    @property
    def outage_s(self) -> float | None:
        """Injection to restart."""
        return None if self.restarted_at is None else self.restarted_at - self.injected_at

    @property
    def applied_s(self) -> float | None:
        """Restart until the first decision is answered 200 (applied, not only accepted) again."""
        if self.applied_at is None or self.restarted_at is None:
            return None
        return self.applied_at - self.restarted_at

    @property
    def recover_s(self) -> float | None:
        """Restart until ``/readyz`` is 200 and a status read succeeds."""
        if self.recovered_at is None or self.restarted_at is None:
            return None
        return self.recovered_at - self.restarted_at


class FaultInjector:
    """Injects each configured fault in turn while load is in flight, and times the recovery."""

    def __init__(
        self,
        topo: Topology,
        api: Api,
        load: LoadDriver,
        config: ChaosConfig,
        rng: random.Random,
        log: Callable[[str], None],
    ) -> None:
        self.topo = topo
        self.api = api
        self.load = load
        self.config = config
        self.rng = rng
        self.log = log
        self.records: list[FaultRecord] = []
        self.current = ""
        self.failures: list[str] = []
        self.problems: list[Problem] = []

    def fault_now(self) -> str:
        """The fault in progress (for the 5xx evidence), or an empty string."""
        return self.current

    async def run_all(self) -> None:
        """Every configured fault, in order, each once load is in flight, with a gap of normal operation."""
        await asyncio.sleep(self.config.fault_gap)  # let the first initiatives spread over the stages
        for name in self.config.faults:
            await self._wait_for_load(minimum=1)
            self.current = FAULT_LABELS[name]
            inject: dict[str, Callable[[], Awaitable[FaultRecord]]] = {
                "worker": self._fault_worker,
                "postgres": self._fault_postgres,
                "temporal": self._fault_temporal,
                "api": self._fault_api,
            }
            try:
                record = await inject[name]()
                await self._wait_applied(record)
            finally:
                self.current = ""
            self.records.append(record)
            summary = f"{record.label}: outage {record.outage_s or 0:.1f}s, " + (
                f"recovered in {record.recover_s:.1f}s" if record.recover_s is not None else "DID NOT RECOVER"
            )
            if record.applied_s is not None:
                summary += f", decisions applied again after {record.applied_s:.1f}s"
            self.log(summary + "".join(f"; {n}" for n in record.notes))
            await asyncio.sleep(self.config.fault_gap)

    async def _wait_applied(self, record: FaultRecord) -> None:
        """Before the next fault, wait until a decision is applied again (not only accepted), while load remains."""
        if record.restarted_at is None:
            return
        deadline = time.monotonic() + self.config.recovery_timeout
        while time.monotonic() < deadline and self.load.in_flight:
            after = [t for t in self.api.stats.decisions_applied if t > record.restarted_at]
            if after:
                record.applied_at = min(after)
                return
            await asyncio.sleep(0.1)

    async def _wait_for_load(self, minimum: int) -> None:
        deadline = time.monotonic() + 60
        while self.load.in_flight < minimum and not self.load.finished and time.monotonic() < deadline:  # noqa: ASYNC110 - polls counters
            await asyncio.sleep(0.1)
        if self.load.in_flight == 0:
            self.log("warning: no initiative in flight for the next fault")

    def _probe_id(self) -> str | None:
        acked = [r for r in self.load.records if r.id is not None]
        running = [r for r in acked if r.outcome != "production"]
        chosen = (running or acked)[-1:] if acked else []
        return chosen[0].id if chosen else None

    def revive(self, during: str, record: FaultRecord | None = None) -> None:
        """Restart (and report as a failure) any process that died without us killing it."""
        for service in self.topo.dead():
            message = f"{service.name} exited unexpectedly (code {service.exit_code()}) during {during}; restarted"
            self.failures.append(message)
            if record is not None:
                record.notes.append(message)
            self.log(message)
            service.start()

    async def _recover(self, record: FaultRecord) -> None:
        """Wait until ``/readyz`` is 200 and a status read succeeds; record when (the restart was stamped)."""
        assert record.restarted_at is not None
        deadline = record.restarted_at + self.config.recovery_timeout
        while time.monotonic() < deadline:
            self.revive(record.label, record)
            try:
                ready = await self.api.http.get("/readyz", timeout=5)
            except httpx.TransportError:
                ready = None
            probe = self._probe_id()
            if ready is not None and ready.status_code == 200 and probe is not None:
                answer = await self.api.call("GET", f"/v1/initiatives/{probe}", "vic", timeout=5)
                if answer.status == 200:
                    record.recovered_at = time.monotonic()
                    return
            await asyncio.sleep(0.25)
        message = f"{record.label}: not serving {self.config.recovery_timeout:.0f}s after the restart"
        self.failures.append(message)

    def _start(self, name: str) -> FaultRecord:
        record = FaultRecord(name, time.monotonic(), in_flight=self.load.in_flight)
        self.log(f"injecting {FAULT_LABELS[name]} ({record.in_flight} initiatives in flight)")
        return record

    async def _fault_worker(self) -> FaultRecord:
        record = self._start("worker")
        await self.topo.worker.kill9()
        await asyncio.sleep(self.config.worker_down)
        record.restarted_at = time.monotonic()
        self.topo.worker.start()
        await self._recover(record)
        return record

    async def _fault_postgres(self) -> FaultRecord:
        record = self._start("postgres")
        await self.topo.postgres.stop_immediate()
        await asyncio.sleep(self.config.pg_outage)
        record.restarted_at = time.monotonic()
        await self.topo.postgres.start()
        await self._recover(record)
        return record

    async def _fault_temporal(self) -> FaultRecord:
        record = self._start("temporal")
        await self.topo.temporal.service.kill9()
        await asyncio.sleep(self.config.temporal_outage)
        record.restarted_at = time.monotonic()
        await self.topo.temporal.start(timeout=self.config.recovery_timeout)
        await self._recover(record)
        return record

    async def _fault_api(self) -> FaultRecord:
        """Kill the API while a submission is in flight, restart it, retry that submission with its key.

        The kill lands a random fraction of a typical submission's latency after the request left; if
        the answer still came first, the fault is repeated (at most ``API_KILL_ATTEMPTS`` times) with a
        new submission and an earlier kill.
        """
        latencies = sorted(self.api.submit_latency) or [0.01]
        typical = latencies[len(latencies) // 2]
        record: FaultRecord | None = None
        in_flight = False
        for attempt in range(API_KILL_ATTEMPTS):
            initiative = self.load.new_record(extra=True)
            assert initiative is not None
            initiative.started = time.monotonic()
            delay = self.rng.uniform(0.2, 0.8) * typical / 2**attempt if attempt < API_KILL_ATTEMPTS - 1 else 0.0
            first, killed_at = await self._submit_and_kill(initiative, delay)
            if record is None:
                record = FaultRecord("api", killed_at, in_flight=self.load.in_flight)
            first_id = str(first.body["id"]) if first.status in (200, 201) and isinstance(first.body, dict) else None
            in_flight = first.status is None
            record.notes.append(
                f"attempt {attempt + 1}: kill {delay * 1000:.1f} ms after the request left "
                f"(typical submission {typical * 1000:.1f} ms): "
                + (f"in flight, no answer ({first.error})" if in_flight else f"answered {first.status} before the kill")
            )
            record.restarted_at = time.monotonic()
            self.topo.api.start()
            await self._recover(record)
            await self._retry_probe(record, initiative, first_id)
            if in_flight:
                break
        assert record is not None
        if not in_flight:
            record.notes.append(f"no submission was caught in flight in {API_KILL_ATTEMPTS} attempts")
            self.failures.append("api kill -9: no submission caught in flight")
        return record

    async def _submit_and_kill(self, initiative: Initiative, delay: float) -> tuple[Answer, float]:
        """Send the submission on its own connection and ``kill -9`` the API ``delay`` s after it left."""
        sent = asyncio.Event()

        async def on_request(request: httpx.Request) -> None:
            del request
            sent.set()

        async with httpx.AsyncClient(
            base_url=self.topo.api_url, timeout=self.config.request_timeout, event_hooks={"request": [on_request]}
        ) as probe_http:
            first_call = asyncio.create_task(
                self.api.call(
                    "POST",
                    "/v1/initiatives",
                    "alice",
                    json=initiative.body,
                    headers={"Idempotency-Key": initiative.key},
                    http=probe_http,
                )
            )
            await sent.wait()
            if delay > 0:
                await asyncio.sleep(delay)
            killed_at = time.monotonic()
            self.log(f"injecting api kill -9 with a submission in flight ({self.load.in_flight} initiatives in flight)")
            await self.topo.api.kill9()
            return await first_call, killed_at

    async def _retry_probe(self, record: FaultRecord, initiative: Initiative, first_id: str | None) -> None:
        """Retry the killed submission with the same Idempotency-Key; it must name the same, single initiative."""
        attempt = 0
        deadline = time.monotonic() + self.config.recovery_timeout
        while time.monotonic() < deadline:
            answer = await self.api.call(
                "POST", "/v1/initiatives", "alice", json=initiative.body, headers={"Idempotency-Key": initiative.key}
            )
            if answer.status in (200, 201) and isinstance(answer.body, dict):
                retry_id = str(answer.body["id"])
                initiative.ids = list(dict.fromkeys(i for i in (first_id, retry_id) if i is not None))
                initiative.acked_at = time.monotonic()
                initiative.outcome = "submitted"
                replayed = answer.headers.get("idempotent-replayed", "absent")
                record.notes.append(
                    f"retry with the same Idempotency-Key answered {answer.status} id {retry_id} "
                    f"(Idempotent-Replayed: {replayed})"
                )
                if first_id is not None and first_id != retry_id:
                    self.problems.append(
                        Problem(
                            "duplicated", retry_id, f"the killed submission answered {first_id}, its retry {retry_id}"
                        )
                    )
                self.load.adopt(initiative)
                return
            attempt += 1
            await asyncio.sleep(min(5.0, 0.25 * 2**attempt))
        initiative.outcome = f"retry after the API kill never acknowledged (last answer {answer.status})"
        initiative.ended = time.monotonic()
        self.failures.append(f"{initiative.key}: {initiative.outcome}")
