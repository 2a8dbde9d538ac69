"""The report rollups' shared counter rows under concurrent writers (part of ``bench.scale``).

Every ``record_events`` transaction refreshes its initiative's rollups and adds what changed to two
whole-portfolio counter tables (``docs/design-notes.md``, "Rollups, not scans"), so writers finishing the
same stage in the same month update the same counter rows. This runs 1, 2 and then 4 writer *processes*
(like 4 workers), each recording the first stage of fresh initiatives (submitted, approved, moved to the
PoC) — every batch touches the same hot counter rows — and reports each writer's rate, the share of
samples in which a writer waited on a lock (from ``pg_stat_activity``), and any deadlock.

The control, in the same run: 4 writers whose initiatives share no counter row (each its own team,
month of submission, procurement and deployment target). With more writers than cores, a writer's rate
falls with the CPU it gets whatever the counters do; the shared run against the control is what the
shared rows cost.

    uv run python -m bench.scale_rollups --batches 400
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from bench.happy_path import SUBMITTER, start_input
from db import events_repo
from db.pool import connect
from schemas.classification import DeploymentTarget, Procurement
from schemas.events import EventKind, InitiativeSnapshot, LifecycleEvent, RecordEventsInput
from schemas.initiative import InitiativeSpec
from schemas.policy_file import load_policy
from schemas.stages import InitiativeStatus, Stage
from worker.dev import apply_migrations
from worker.embedded import EmbeddedPostgres

APPLICATION = "liftoff-scale-writer"
TARGET_PER_WRITER = 0.8


def _lane_spec(lane: int | None) -> InitiativeSpec:
    """The happy path's spec; in a lane, with its own team, procurement and deployment target."""
    spec = start_input(load_policy()).spec
    if lane is None:
        return spec
    combos = [(p, d) for p in Procurement for d in DeploymentTarget]
    procurement, target = combos[lane % len(combos)]
    infrastructure = spec.infrastructure.model_copy(update={"deployment_target": target})
    return spec.model_copy(
        update={"team": f"lane-{lane}", "procurement": procurement, "infrastructure": infrastructure}
    )


def _batch(iid: str, at: datetime, version: str, spec: InitiativeSpec) -> RecordEventsInput:
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


async def _write(dsn: str, batches: int, lane: int | None) -> tuple[float, int]:
    conn = await connect(dsn)
    await conn.execute(f"SET application_name = '{APPLICATION}'")
    version = load_policy().version
    spec = _lane_spec(lane)
    # a lane submits in its own month (35 days apart), so no cohort or stage-day counter row is shared
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(days=35 * (lane or 0))
    deadlocks = 0
    began = time.perf_counter()
    try:
        for _ in range(batches):
            record = _batch(uuid.uuid4().hex[:16], at, version, spec)
            while True:
                try:
                    await events_repo.record_events(conn, record)
                    break
                except asyncpg.DeadlockDetectedError:
                    deadlocks += 1
    finally:
        await conn.close()
    return time.perf_counter() - began, deadlocks


def _writer(dsn: str, batches: int, lane: int | None, results: multiprocessing.Queue[tuple[float, int]]) -> None:
    results.put(asyncio.run(_write(dsn, batches, lane)))


@dataclass(frozen=True)
class Run:
    """One run of ``writers`` concurrent writers."""

    writers: int
    per_writer_rate: float
    lock_wait_share: float
    deadlocks: int


async def _run(dsn: str, writers: int, batches: int, *, lanes: bool = False) -> Run:
    """``writers`` processes at once; with ``lanes``, each on counter rows of its own."""
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[tuple[float, int]] = context.Queue()
    processes = [
        context.Process(target=_writer, args=(dsn, batches, index if lanes else None, results))
        for index in range(writers)
    ]
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
    """One writer against two (as many as this machine's cores) and four, and four on rows of their own."""

    one: Run
    two: Run
    four: Run
    four_apart: Run

    def rows(self) -> list[tuple[str, str, str]]:
        """Rows of ``bench.scale``'s table."""
        ratio = self.four.per_writer_rate / self.one.per_writer_rate
        verdict = "ok" if ratio >= TARGET_PER_WRITER else "BELOW TARGET"
        shared = self.four.per_writer_rate / self.four_apart.per_writer_rate
        shared_verdict = "ok" if shared >= TARGET_PER_WRITER else "BELOW TARGET"
        cores = os.cpu_count() or 1
        runs = (self.one, self.two, self.four, self.four_apart)
        return [
            ("rollup writes, 1 writer (batches/s)", f"{self.one.per_writer_rate:.0f}", ""),
            (
                "rollup writes, 2 writers (batches/s each)",
                f"{self.two.per_writer_rate:.0f} ({self.two.per_writer_rate / self.one.per_writer_rate:.2f})",
                "",
            ),
            ("rollup writes, 4 writers (batches/s each)", f"{self.four.per_writer_rate:.0f}", ""),
            ("  per-writer rate, 4 writers / 1 writer", f"{ratio:.2f}", f">= {TARGET_PER_WRITER}  {verdict}"),
            ("rollup writes, 4 writers, no shared row (each)", f"{self.four_apart.per_writer_rate:.0f}", ""),
            (
                "  4 writers: shared rows / no shared row",
                f"{shared:.2f}",
                f">= {TARGET_PER_WRITER}  {shared_verdict}",
            ),
            (
                "  writer samples waiting on a lock, 2 / 4 / 4 apart",
                " / ".join(f"{run.lock_wait_share:.0%}" for run in (self.two, self.four, self.four_apart)),
                "",
            ),
            ("  deadlocks", f"{sum(run.deadlocks for run in runs)}", "0"),
            ("  cores on this machine", f"{cores}", ""),
        ]


def _median_run(runs: list[Run]) -> Run:
    """The run with the median per-writer rate (deadlocks summed over all)."""
    ordered = sorted(runs, key=lambda run: run.per_writer_rate)
    middle = ordered[len(ordered) // 2]
    return Run(middle.writers, middle.per_writer_rate, middle.lock_wait_share, sum(r.deadlocks for r in runs))


async def measure(dsn: str, batches: int, rounds: int = 1) -> Measured:
    """One writer, two, four on shared rows and four apart, each recording ``batches`` initiatives' first stage.

    With several ``rounds`` the four kinds alternate and each keeps its median round.
    """
    kinds: dict[str, list[Run]] = {"one": [], "two": [], "four": [], "four_apart": []}
    for index in range(rounds):
        order = list(kinds) if index % 2 == 0 else list(reversed(kinds))
        for kind in order:
            writers = {"one": 1, "two": 2}.get(kind, 4)
            run = await _run(dsn, writers, batches, lanes=kind == "four_apart")
            kinds[kind].append(run)
            print(f"  round {index + 1}/{rounds} {kind:<10} {run.per_writer_rate:6.1f} batches/s each", flush=True)
    return Measured(*(_median_run(kinds[kind]) for kind in kinds))


async def main_async(args: argparse.Namespace) -> int:
    """An embedded PostgreSQL with liftoff's schema, the writers, the table."""
    with tempfile.TemporaryDirectory(prefix="liftoff-rollups-") as tmp:
        postgres = EmbeddedPostgres(Path(tmp) / "pg" / "data")
        try:
            dsn = await asyncio.to_thread(postgres.start)
            await apply_migrations(dsn)
            measured = await measure(dsn, args.batches, args.rounds)
        finally:
            postgres.stop()
    print()
    print(f"{'':<52}{'value':>14}  target")
    for label, value, target in measured.rows():
        print(f"{label:<52}{value:>14}  {target}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench.scale_rollups", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=400, help="batches each writer records (default 400)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; median (default 3)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(main_async(args))
    return 130


if __name__ == "__main__":
    raise SystemExit(main())
