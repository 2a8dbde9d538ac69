"""Chaos harness: no initiative is lost, duplicated, stuck or unreplayable when the parts of liftoff fail.

Starts the production topology from real parts as separate processes (PostgreSQL 15, the Temporal
dev server on a SQLite file, ``liftoff worker``, ``liftoff api``), drives initiatives from submission
to production through the HTTP API and, while they are in flight, kills the worker, stops PostgreSQL,
kills Temporal and kills the API in the middle of a submission, timing how long each takes to recover.
Then it checks every acknowledged submission and decision against Temporal, PostgreSQL and the funnel
report, replays every workflow history and looks for stuck workflows. Exit code 0 only if nothing was
lost, duplicated, stuck or unreplayable and no request answered 500.

    uv run python -m bench.chaos --initiatives 60 --temporal-outage 60

Table columns: ``outage s`` from the fault to the restart; ``recover s`` from the restart until
``/readyz`` is 200 and a status read succeeds; ``applied s`` from the restart until a decision is
answered 200 (applied, not only accepted) again; ``initiatives`` in flight during the fault; then
the initiatives lost, duplicated, stuck and with a history that fails replay among them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.chaos_checks import Checker, Problem, Verification
from bench.chaos_faults import FAULTS, FaultInjector
from bench.chaos_load import Api, Initiative, LoadDriver, RequestStats
from bench.chaos_procs import HarnessError, Topology, wait_ready
from worker.temporal_client import connect_client

NO_FAULT = "(no fault)"
NATURAL_INITIATIVE_S = 3.0
RECOVERY_ALLOWANCE_S = 4.0
REQUESTS_PER_INITIATIVE = 7
TABLE_KINDS = ("lost", "duplicated", "stuck", "replay")


@dataclass(frozen=True)
class ChaosConfig:
    """What to run: how much load, which faults and how long each lasts."""

    initiatives: int = 300
    concurrency: int = 12
    faults: tuple[str, ...] = FAULTS
    worker_down: float = 3.0
    pg_outage: float = 20.0
    temporal_outage: float = 60.0
    fault_gap: float = 5.0
    settle_timeout: float = 300.0
    recovery_timeout: float = 180.0
    request_timeout: float = 30.0
    seed: int = 1
    run_dir: Path | None = None
    keep_dir: bool = False

    def _outages(self) -> dict[str, float]:
        return {"worker": self.worker_down, "postgres": self.pg_outage, "temporal": self.temporal_outage, "api": 1.0}

    def planned_fault_seconds(self) -> float:
        """Roughly how long the fault schedule lasts (outages, recoveries, gaps)."""
        return sum(self._outages()[f] + RECOVERY_ALLOWANCE_S + self.fault_gap for f in self.faults) + self.fault_gap

    def think_seconds(self) -> float:
        """Think time before each request that spreads the initiatives over the whole fault schedule.

        Nothing advances during an outage, so only the time between outages counts: with C in flight,
        N initiatives over that time last C*T/N each; the system itself takes about 3 s for the seven
        requests of one initiative.
        """
        if not self.faults:
            return 0.0
        between = self.planned_fault_seconds() - sum(self._outages()[f] for f in self.faults)
        each = self.concurrency * between / self.initiatives
        return max(0.0, (each - NATURAL_INITIATIVE_S) / REQUESTS_PER_INITIATIVE)


@dataclass(frozen=True)
class FaultRow:
    """One row of the table."""

    fault: str
    outage_s: float | None
    recover_s: float | None
    applied_s: float | None
    initiatives: int
    lost: int
    duplicated: int
    stuck: int
    replay_failures: int


@dataclass
class ChaosReport:
    """The outcome of a run: the table, every problem with its evidence, and why it failed (if it did)."""

    rows: list[FaultRow]
    totals: FaultRow
    answers_5xx: dict[int, int]
    answers: dict[int, int]
    no_answer: int
    server_errors: list[str]
    problems: list[Problem]
    failures: list[str]
    notes: list[str]
    initiatives: int
    acknowledged: int
    in_production: int
    replayed: int
    workflows: dict[str, int]
    funnel: dict[str, object]
    excused_409: int
    unexpected_409: list[str]
    api_log_errors: list[str]
    elapsed_s: float
    run_dir: Path | None

    @property
    def ok(self) -> bool:
        """Nothing lost, duplicated, stuck or unreplayable, no 500, every check agreed."""
        return not self.failures

    @property
    def lost(self) -> int:
        """Initiatives with a lost submission or decision."""
        return self.totals.lost

    @property
    def duplicated(self) -> int:
        """Initiatives (or rows) found twice."""
        return self.totals.duplicated

    @property
    def stuck(self) -> int:
        """Workflows whose task keeps failing, and initiatives still running at the deadline."""
        return self.totals.stuck

    @property
    def replay_failures(self) -> int:
        """Histories that failed replay."""
        return self.totals.replay_failures

    @property
    def http_500(self) -> int:
        """Requests answered 500."""
        return self.answers_5xx.get(500, 0)

    def table(self) -> str:
        """The table: one row per fault, the initiatives no fault touched, and the totals."""
        head = (
            "fault",
            "outage s",
            "recover s",
            "applied s",
            "initiatives",
            "lost",
            "duplicated",
            "stuck",
            "replay failures",
        )
        lines = [head]
        lines.extend(
            (
                row.fault,
                "-" if row.outage_s is None else f"{row.outage_s:.1f}",
                "-" if row.recover_s is None else f"{row.recover_s:.1f}",
                "-" if row.applied_s is None else f"{row.applied_s:.1f}",
                str(row.initiatives),
                str(row.lost),
                str(row.duplicated),
                str(row.stuck),
                str(row.replay_failures),
            )
            for row in [*self.rows, self.totals]
        )
        widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
        out = []
        for n, line in enumerate(lines):
            cells = [line[0].ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(line[1:], widths[1:], strict=True)]
            out.append("  ".join(cells))
            if n in (0, len(lines) - 2):
                out.append("  ".join("-" * w for w in widths))
        return "\n".join(out)

    def render(self) -> str:
        """The whole report as text."""
        fives = ", ".join(f"{code}x{n}" for code, n in self.answers_5xx.items()) or "none"
        answers = ", ".join(f"{code}x{n}" for code, n in self.answers.items()) or "none"
        lines = [
            self.table(),
            "",
            (
                f"initiatives {self.initiatives}, acknowledged {self.acknowledged}, "
                f"in production {self.in_production}, histories replayed {self.replayed} {self.workflows}, "
                f"{self.elapsed_s:.0f}s"
            ),
            f"5xx answers by status: {fives}",
            f"all answers by status: {answers}; no answer (connection error, timeout): {self.no_answer}",
            (
                f"409 after an uncertain attempt (decision already made): {self.excused_409}; "
                f"other 409: {len(self.unexpected_409)}"
            ),
            f"funnel: {json.dumps(self.funnel, sort_keys=True)}",
        ]
        lines += [f"note: {n}" for n in self.notes]
        lines += [f"500: {e}" for e in self.server_errors]
        lines += [f"unexpected 409: {m}" for m in self.unexpected_409[:20]]
        lines += [f"api log error: {e}" for e in self.api_log_errors]
        lines += [f"{p.kind}: {p.initiative_id or '-'}: {p.detail}" for p in self.problems]
        if self.run_dir is not None:
            lines.append(f"run dir (logs, failing histories): {self.run_dir}")
        lines.append("RESULT: ok" if self.ok else "RESULT: FAILED — " + "; ".join(self.failures))
        return "\n".join(lines)


def stderr_progress(line: str) -> None:
    """Progress lines go to stderr, stamped with the wall clock."""
    print(f"[chaos {time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def _overlaps(record: Initiative, start: float, end: float, now: float) -> bool:
    if not record.started:
        return False
    return record.started < end and (record.ended or now) > start


def _count(problems: list[Problem], kind: str, ids: set[str] | None) -> int:
    """Distinct initiatives (or, without one, distinct problems) of ``kind``, limited to ``ids`` when given."""
    keys = {
        p.initiative_id or f"#{p.detail}"
        for p in problems
        if p.kind == kind and (ids is None or (p.initiative_id is not None and p.initiative_id in ids))
    }
    return len(keys)


def _api_log_errors(path: Path, limit: int = 10) -> list[str]:
    """The API's error lines (JSON logs) grouped by event and error, as evidence for 500s."""
    groups: dict[tuple[str, str], list[str]] = {}
    if not path.exists():
        return []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict) or entry.get("level") not in ("error", "critical"):
            continue
        exc = entry.get("exc_info") or entry.get("exception") or entry.get("error") or ""
        if isinstance(exc, list):
            exc = " ".join(str(part) for part in exc[:2])
        key = (str(entry.get("event", "")).strip(), str(exc).strip().splitlines()[-1] if str(exc).strip() else "")
        where = f"{entry.get('timestamp', '?')} {entry.get('path', '')}".strip()
        groups.setdefault(key, []).append(where)
    return [
        f"{len(seen)}x {event}: {exc or '-'} (first {seen[0]}, last {seen[-1]})"
        for (event, exc), seen in list(groups.items())[:limit]
    ]


def build_report(
    load: LoadDriver,
    injector: FaultInjector,
    verification: Verification,
    stats: RequestStats,
    *,
    t0: float,
    run_dir: Path,
) -> ChaosReport:
    """Attribute every problem to the faults its initiative lived through, and decide the outcome."""
    now = time.monotonic()
    problems = [*injector.problems, *verification.problems]
    rows: list[FaultRow] = []
    touched: set[str] = set()
    for fault in injector.records:
        end = fault.recovered_at or now
        ids = {r.id for r in load.records if r.id is not None and _overlaps(r, fault.injected_at, end, now)}
        touched |= ids
        counts = [_count(problems, kind, ids) for kind in TABLE_KINDS]
        rows.append(
            FaultRow(
                fault.label,
                fault.outage_s,
                fault.recover_s,
                fault.applied_s,
                len(ids),
                *counts,
            )
        )
    untouched = {r.id for r in load.records if r.id is not None} - touched
    rows.append(
        FaultRow(NO_FAULT, None, None, None, len(untouched), *(_count(problems, k, untouched) for k in TABLE_KINDS))
    )
    recoveries = [f.recover_s for f in injector.records if f.recover_s is not None]
    applied_again = [f.applied_s for f in injector.records]
    totals = FaultRow(
        "total",
        sum(f.outage_s or 0 for f in injector.records),
        max(recoveries) if recoveries else None,
        max((a for a in applied_again if a is not None), default=None),
        sum(1 for r in load.records if r.id is not None),
        *(_count(problems, kind, None) for kind in TABLE_KINDS),
    )
    server_errors = [
        f"{e.method} {e.path} at +{e.at - t0:.1f}s during {e.fault or 'no fault'}: {e.detail}"
        for e in stats.server_errors
        if e.status == 500
    ]
    answers_5xx = stats.count_5xx()
    failures = list(injector.failures)
    for kind, count in zip(
        TABLE_KINDS, (totals.lost, totals.duplicated, totals.stuck, totals.replay_failures), strict=True
    ):
        if count:
            failures.append(f"{kind}: {count}")
    if answers_5xx.get(500):
        failures.append(f"{answers_5xx[500]} requests answered 500")
    for kind in ("read_model", "funnel", "not_in_production", "unacknowledged"):
        count = sum(1 for p in problems if p.kind == kind)
        if count:
            failures.append(f"{kind.replace('_', ' ')}: {count}")
    return ChaosReport(
        rows=rows,
        totals=totals,
        answers_5xx=answers_5xx,
        answers=dict(sorted(stats.by_status.items())),
        no_answer=stats.no_answer,
        server_errors=server_errors,
        problems=problems,
        failures=failures,
        notes=[f"{f.label}: {n}" for f in injector.records for n in f.notes],
        initiatives=len(load.records),
        acknowledged=totals.initiatives,
        in_production=verification.in_production,
        replayed=verification.replayed,
        workflows=verification.workflows,
        funnel=dict(verification.funnel),
        excused_409=sum(len(r.excused_409) for r in load.records),
        unexpected_409=[f"{r.id}: {m}" for r in load.records for m in r.unexpected_409],
        api_log_errors=_api_log_errors(run_dir / "api.log"),
        elapsed_s=now - t0,
        run_dir=run_dir,
    )


async def _progress_loop(
    load: LoadDriver, injector: FaultInjector, stats: RequestStats, log: Callable[[str], None]
) -> None:
    t0 = time.monotonic()
    while True:
        await asyncio.sleep(5)
        c = load.counts()
        fives = ", ".join(f"{k}x{v}" for k, v in stats.count_5xx().items()) or "none"
        log(
            f"+{time.monotonic() - t0:4.0f}s {injector.current or 'no fault':<28} "
            f"submitted {c['claimed']}/{load.total} acked {c['acked']} production {c['production']} "
            f"in flight {c['in_flight']}; 5xx: {fives}; no answer: {stats.no_answer}"
        )


async def _drive(topo: Topology, config: ChaosConfig, log: Callable[[str], None], t0: float) -> ChaosReport:
    limits = httpx.Limits(max_connections=config.concurrency * 4, max_keepalive_connections=config.concurrency * 2)
    async with httpx.AsyncClient(base_url=topo.api_url, timeout=config.request_timeout, limits=limits) as http:
        await topo.start(http)
        rng = random.Random(config.seed)
        injector_ref: list[FaultInjector] = []
        api = Api(http, topo.tokens, lambda: injector_ref[0].fault_now() if injector_ref else "")
        think = config.think_seconds()
        load = LoadDriver(
            api,
            total=config.initiatives,
            concurrency=config.concurrency,
            think_s=think,
            rng=rng,
            key_prefix=f"chaos-{config.seed}",
        )
        injector = FaultInjector(topo, api, load, config, rng, log)
        injector_ref.append(injector)
        log(
            f"driving {config.initiatives} initiatives, {config.concurrency} in flight, "
            f"{think:.1f}s think time per decision until the faults are over"
        )
        ticker = asyncio.create_task(_progress_loop(load, injector, api.stats, log))
        load_task = asyncio.create_task(load.run())
        try:
            await injector.run_all()
            load.release()
            load.deadline = time.monotonic() + config.settle_timeout
            log(f"faults done; waiting up to {config.settle_timeout:.0f}s for every initiative to finish")
            await load_task
            await load.join_adopted()
        finally:
            ticker.cancel()
            if not load_task.done():
                load.stop()
                load_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await load_task
        injector.revive("the load after the faults")
        await wait_ready(http, config.recovery_timeout)
        log("load done; checking Temporal, PostgreSQL, the funnel report and every history")
        client = await connect_client(topo.temporal.address)
        checker = Checker(client, topo.postgres.dsn, api, load.records, topo.run_dir, log)
        verification = await checker.run()
        return build_report(load, injector, verification, api.stats, t0=t0, run_dir=topo.run_dir)


async def run_chaos(config: ChaosConfig, log: Callable[[str], None] = stderr_progress) -> ChaosReport:
    """Run the whole harness and return its report; every process started is stopped on every way out."""
    unknown = set(config.faults) - set(FAULTS)
    if unknown:
        msg = f"unknown faults {sorted(unknown)}; known: {', '.join(FAULTS)}"
        raise HarnessError(msg)
    t0 = time.monotonic()
    if config.run_dir is not None:
        config.run_dir.mkdir(parents=True, exist_ok=False)
        run_dir = config.run_dir.resolve()
        closed = [p for p in run_dir.parents if not p.stat().st_mode & 0o001]
        if closed and os.geteuid() == 0:
            msg = f"the postgres user cannot reach {run_dir}: {closed[0]} is not searchable by others; pick another"
            raise HarnessError(msg)
    else:
        run_dir = Path(tempfile.mkdtemp(prefix="liftoff-chaos-"))
    run_dir.chmod(0o755)  # the postgres user must reach its data dir inside
    log(f"run dir {run_dir}")
    topo = Topology(run_dir, log)
    report: ChaosReport | None = None
    interrupted = False
    try:
        report = await _drive(topo, config, log, t0)
    except (asyncio.CancelledError, KeyboardInterrupt):
        interrupted = True
        raise
    finally:
        log("stopping every process the harness started")
        topo.stop_all()
        # Kept: when asked, when the caller chose the directory, and as evidence of a failure or a harness error.
        failed = (report is None and not interrupted) or (report is not None and not report.ok)
        if not (config.keep_dir or config.run_dir is not None or failed):
            shutil.rmtree(run_dir, ignore_errors=True)
            if report is not None:
                report.run_dir = None
        else:
            log(f"kept {run_dir}")
    assert report is not None
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    doc = (__doc__ or "").split("\n\n")
    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos",
        description="\n\n".join([doc[0], doc[1], doc[3]]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Needs Debian's PostgreSQL 15 (apt-get install postgresql) in /usr/lib/postgresql/15/bin. "
        "Progress goes to stderr, the report to stdout. Ctrl-C stops every process the harness started.",
    )
    parser.add_argument("--initiatives", type=int, default=300, help="initiatives to drive to production (default 300)")
    parser.add_argument("--concurrency", type=int, default=12, help="initiatives in flight at most (default 12)")
    parser.add_argument(
        "--faults",
        default=",".join(FAULTS),
        help=f"comma-separated faults to inject, in order (default {','.join(FAULTS)}; empty string for none)",
    )
    parser.add_argument(
        "--worker-down", type=float, default=3.0, help="seconds the killed worker stays down (default 3)"
    )
    parser.add_argument("--pg-outage", type=float, default=20.0, help="seconds PostgreSQL stays stopped (default 20)")
    parser.add_argument(
        "--temporal-outage", type=float, default=60.0, help="seconds the killed Temporal server stays down (default 60)"
    )
    parser.add_argument(
        "--fault-gap", type=float, default=5.0, help="seconds of normal operation between faults (default 5)"
    )
    parser.add_argument(
        "--settle-timeout",
        type=float,
        default=300.0,
        help="seconds after the last fault for every initiative to reach production (default 300)",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed: submissions, jitter, kill timing (default 1)")
    parser.add_argument(
        "--run-dir", type=Path, help="where logs and data go (must not exist; kept); default: a temp dir"
    )
    parser.add_argument("--keep-dir", action="store_true", help="keep the temp run dir even when the run passes")
    args = parser.parse_args(argv)
    args.faults = tuple(f for f in args.faults.split(",") if f)
    if unknown := set(args.faults) - set(FAULTS):
        parser.error(f"unknown faults {sorted(unknown)}; known: {', '.join(FAULTS)}")
    if args.initiatives < 1 or args.concurrency < 1:
        parser.error("--initiatives and --concurrency must be at least 1")
    return args


async def main_async(args: argparse.Namespace) -> int:
    """Run with SIGTERM treated like Ctrl-C; print the report; 0 only when it passed."""
    config = ChaosConfig(
        initiatives=args.initiatives,
        concurrency=args.concurrency,
        faults=args.faults,
        worker_down=args.worker_down,
        pg_outage=args.pg_outage,
        temporal_outage=args.temporal_outage,
        fault_gap=args.fault_gap,
        settle_timeout=args.settle_timeout,
        seed=args.seed,
        run_dir=args.run_dir,
        keep_dir=args.keep_dir,
    )
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        report = await run_chaos(config)
    except HarnessError as err:
        print(f"chaos harness error: {err}", file=sys.stderr)
        return 2
    print(report.render())
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> None:
    """Entry point; ends with ``os._exit`` after flushing (the Temporal client can crash at interpreter exit)."""
    args = parse_args(argv)
    try:
        code = asyncio.run(main_async(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted; every process the harness started was stopped", file=sys.stderr)
        code = 130
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
