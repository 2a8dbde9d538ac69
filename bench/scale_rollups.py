"""The report rollups' shared counter rows under concurrent writers (part of ``bench.scale``).

Every ``record_events`` transaction refreshes its initiative's rollups and adds what changed to two
whole-portfolio counter tables (``docs/design-notes.md``, "Rollups, not scans"), so writers finishing the
same stage in the same month update the same counter rows. This runs 1 and then 4 writer *processes*
(like 4 workers), each recording the first stage of fresh initiatives (submitted, approved, moved to the
PoC) — every batch touches the same hot counter rows — and reports each writer's rate, the share of
samples in which a writer waited on a lock (from ``pg_stat_activity``), and any deadlock.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from bench.happy_path import SUBMITTER, start_input
from db import events_repo
from db.pool import connect
from schemas.events import EventKind, InitiativeSnapshot, LifecycleEvent, RecordEventsInput
from schemas.policy_file import load_policy
from schemas.stages import InitiativeStatus, Stage

APPLICATION = "liftoff-scale-writer"
TARGET_PER_WRITER = 0.8


def _batch(iid: str, at: datetime, version: str) -> RecordEventsInput:
    spec = start_input(load_policy()).spec
    kinds = [
        (EventKind.SUBMITTED, Stage.PROPOSED, {}),
        (EventKind.STAGE_ENTERED, Stage.PROPOSED, {}),
        (EventKind.APPROVED, Stage.PROPOSED, {}),
        (EventKind.STAGE_LEFT, Stage.PROPOSED, {"outcome": "advanced"}),
        (EventKind.STAGE_ENTERED, Stage.POC, {}),
    ]
    events = [
        LifecycleEvent(
            event_id=f"initiative-{iid}/{seq}",
            initiative_id=iid,
            seq=seq,
            kind=kind,
            stage=stage,
            actor=SUBMITTER,
            data=data,
            occurred_at=at + timedelta(seconds=seq),
            policy_version=version,
        )
        for seq, (kind, stage, data) in enumerate(kinds, start=1)
    ]
    snapshot = InitiativeSnapshot(
        initiative_id=iid,
        workflow_id=f"initiative-{iid}",
        spec=spec,
        submitter=SUBMITTER,
        policy_version=version,
        stage=Stage.POC,
        status=InitiativeStatus.ACTIVE,
        stage_entered_at=events[-1].occurred_at,
        awaiting_roles=["business_owner"],
        submitted_at=at,
    )
    return RecordEventsInput(events=events, snapshot=snapshot)


async def _write(dsn: str, batches: int) -> tuple[float, int]:
    conn = await connect(dsn)
    await conn.execute(f"SET application_name = '{APPLICATION}'")
    version = load_policy().version
    at = datetime.now(UTC).replace(microsecond=0)
    deadlocks = 0
    began = time.perf_counter()
    try:
        for _ in range(batches):
            record = _batch(uuid.uuid4().hex[:16], at, version)
            while True:
                try:
                    await events_repo.record_events(conn, record)
                    break
                except asyncpg.DeadlockDetectedError:
                    deadlocks += 1
    finally:
        await conn.close()
    return time.perf_counter() - began, deadlocks


def _writer(dsn: str, batches: int, results: multiprocessing.Queue[tuple[float, int]]) -> None:
    results.put(asyncio.run(_write(dsn, batches)))


@dataclass(frozen=True)
class Run:
    """One run of ``writers`` concurrent writers."""

    writers: int
    per_writer_rate: float
    lock_wait_share: float
    deadlocks: int


async def _run(dsn: str, writers: int, batches: int) -> Run:
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[tuple[float, int]] = context.Queue()
    processes = [context.Process(target=_writer, args=(dsn, batches, results)) for _ in range(writers)]
    for process in processes:
        process.start()
    monitor = await connect(dsn)
    waiting = samples = 0
    try:
        while any(p.is_alive() for p in processes):
            rows = await monitor.fetch(
                "SELECT wait_event_type FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'",
                APPLICATION,
            )
            samples += len(rows)
            waiting += sum(1 for r in rows if r["wait_event_type"] == "Lock")
            await asyncio.sleep(0.01)
    finally:
        await monitor.close()
    outcomes = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join()
    rate = sum(batches / elapsed for elapsed, _ in outcomes) / writers
    return Run(writers, rate, waiting / samples if samples else 0.0, sum(d for _, d in outcomes))


@dataclass(frozen=True)
class Measured:
    """One writer against two (as many as this machine's cores) and four."""

    one: Run
    two: Run
    four: Run

    def rows(self) -> list[tuple[str, str, str]]:
        """Rows of ``bench.scale``'s table."""
        ratio = self.four.per_writer_rate / self.one.per_writer_rate
        verdict = "ok" if ratio >= TARGET_PER_WRITER else "BELOW TARGET"
        return [
            ("rollup writes, 1 writer (batches/s)", f"{self.one.per_writer_rate:.0f}", ""),
            (
                "rollup writes, 2 writers (batches/s each)",
                f"{self.two.per_writer_rate:.0f} ({self.two.per_writer_rate / self.one.per_writer_rate:.2f})",
                "",
            ),
            ("rollup writes, 4 writers (batches/s each)", f"{self.four.per_writer_rate:.0f}", ""),
            ("  per-writer rate, 4 writers / 1 writer", f"{ratio:.2f}", f">= {TARGET_PER_WRITER}  {verdict}"),
            (
                "  writer samples waiting on a lock, 2 / 4 writers",
                f"{self.two.lock_wait_share:.0%} / {self.four.lock_wait_share:.0%}",
                "",
            ),
            ("  deadlocks", f"{self.one.deadlocks + self.two.deadlocks + self.four.deadlocks}", "0"),
        ]


async def measure(dsn: str, batches: int) -> Measured:
    """One writer, then two, then four, each recording ``batches`` initiatives' first stage."""
    one = await _run(dsn, 1, batches)
    two = await _run(dsn, 2, batches)
    four = await _run(dsn, 4, batches)
    return Measured(one, two, four)
