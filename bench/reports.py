"""Report latency at portfolio scale: every report of ``db.reports_repo`` against a naive baseline.

A synthetic portfolio (``bench.reports_data``) is loaded with COPY into an embedded PostgreSQL and the report
rollups are rebuilt from it. Each report is then called ``--repeat`` times for the whole portfolio, for the
largest team and for the last year's submissions, followed by a naive query for the same question
(``bench.reports_baseline``), and p50/p95 are printed against the 50 ms p95 target. Last, the whole
portfolio's answers (read from counters the writers keep) are checked against the same reports computed
from every row in scope.

    uv run python -m bench.reports --initiatives 100000 --events 1000000 --repeat 30
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg

from bench.reports_baseline import BASELINES
from bench.reports_data import load_portfolio
from db.pool import Conn, connect
from db.queries import sql
from db.reports_repo import REPORTS
from schemas.report_rows import Rows, TimeInStageRow
from schemas.reports import ReportFilters
from worker.dev import apply_migrations
from worker.embedded import EmbeddedPostgres
from worker.logging import configure_logging
from worker.services import freeze_startup_objects

TARGET_P95_MS = 50.0
# Fields that count stalls still open up to now(), per report: they grow with the wall clock between two runs.
NOW_DEPENDENT = {
    "stalled-now": {"stalled_seconds"},
    "stall-reasons": {"total_stalled_seconds", "median_stalled_seconds"},
    "spend": {"monthly_run_rate_usd"},
}

Row = tuple[str, str, float, float, float, float]  # report, scope, p50, p95, baseline p50, baseline p95
Answers = dict[tuple[str, str], tuple[float, Any]]  # (report, scope) -> (wall clock, result)


def p95(samples: list[float]) -> float:
    """95th percentile by nearest rank."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


async def run_baseline(conn: Conn, name: str, f: ReportFilters) -> list[asyncpg.Record]:
    """The naive query for report ``name``, in a transaction with the same settings the reports use."""
    async with conn.transaction():
        await conn.execute(sql("report_settings"))
        return await conn.fetch(BASELINES[name], f.since, f.until, f.team, f.business_unit)


async def timed(call: Callable[[], Awaitable[object]]) -> float:
    """Milliseconds one awaited call takes."""
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1000


async def measure(
    conn: Conn, scopes: dict[str, ReportFilters], repeat: int, label: str, only: frozenset[str] = frozenset()
) -> tuple[list[Row], Answers]:
    """Time every report, then its baseline, ``repeat`` calls each per scope; keep one answer of each report.

    The calls of one query run back to back after one untimed warm-up call, so a report is timed with its
    own pages cached (as on a dashboard), not right after a baseline has read the whole event log.
    """
    rows: list[Row] = []
    answers: Answers = {}
    for name, report in REPORTS.items():
        if only and name not in only:
            continue
        for scope, f in scopes.items():
            answers[name, scope] = (time.time(), (await report(conn, f)).model_dump(mode="json"))
            ours = [await timed(partial(report, conn, f)) for _ in range(repeat)]
            await run_baseline(conn, name, f)
            base = [await timed(partial(run_baseline, conn, name, f)) for _ in range(repeat)]
            row = (name, scope, statistics.median(ours), p95(ours), statistics.median(base), p95(base))
            rows.append(row)
            print(
                f"  [{label}] {name:<14} {scope:<14} p95 {row[3]:8.1f} ms   baseline p95 {row[5]:9.1f} ms", flush=True
            )
    return rows, answers


async def row_by_row(conn: Conn, name: str) -> dict[str, Any]:
    """Report ``name`` over every initiative, read row by row instead of from the whole-portfolio counters.

    Since 1970 covers every initiative and sends most reports down their row-by-row path; time in stage answers
    a window of submission time from counters as well, so its row-by-row query is run directly.
    """
    everything = ReportFilters(since=datetime(1970, 1, 1, tzinfo=UTC))
    if name != "time-in-stage":
        return (await REPORTS[name](conn, everything)).model_dump(mode="json")
    async with conn.transaction():
        await conn.execute(sql("report_settings"))
        records = await conn.fetch(sql("report_time_in_stage"), everything.since, None, None, None)
    return Rows[TimeInStageRow](rows=[TimeInStageRow(**r) for r in records]).model_dump(mode="json")


def table(rows: list[Row]) -> str:
    """The results as a fixed-width table."""
    lines = [
        f"{'report':<14} {'scope':<14} {'p50 ms':>8} {'p95 ms':>8} {'base p50':>9} {'base p95':>9}  target p95 < 50 ms"
    ]
    for name, scope, p50, q95, b50, b95 in rows:
        verdict = "ok" if q95 < TARGET_P95_MS else "MISS"
        lines.append(f"{name:<14} {scope:<14} {p50:>8.1f} {q95:>8.1f} {b50:>9.1f} {b95:>9.1f}  {verdict}")
    return "\n".join(lines)


def compare(before: Answers, after: Answers) -> list[str]:
    """Differences between two sets of answers (none expected). Stalls still open grow with the clock."""
    problems: list[str] = []
    volatile: set[str] = set()

    def same(a: object, b: object, where: str, key: str, slack: float) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            if a.keys() != b.keys():
                problems.append(f"{where}: keys {sorted(a)} != {sorted(b)}")
                return
            stalls = float(a.get("stalls", 1) or 1)
            for k in a:
                same(a[k], b[k], f"{where}.{k}", k, slack * (stalls if k == "total_stalled_seconds" else 1))
        elif isinstance(a, list) and isinstance(b, list):
            if len(a) != len(b):
                problems.append(f"{where}: {len(a)} rows != {len(b)} rows")
                return
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                same(x, y, f"{where}[{i}]", key, slack)
        elif isinstance(a, float) and isinstance(b, float):
            tolerance = slack if key in volatile else 0.0
            # a run-rate divides by the time since each resource was created: it drifts by parts per million
            relative = 1e-3 if key == "monthly_run_rate_usd" else 1e-9
            if not math.isclose(a, b, rel_tol=relative, abs_tol=tolerance + 1e-6):
                problems.append(f"{where}: {a!r} != {b!r}")
        elif a != b:
            problems.append(f"{where}: {a!r} != {b!r}")

    for key, (t0, a) in before.items():
        t1, b = after[key]
        volatile = NOW_DEPENDENT.get(key[0], set())
        same(a, b, "/".join(key), "", t1 - t0 + 1)
    return problems


async def run(workdir: Path, args: argparse.Namespace) -> int:
    """Start PostgreSQL, load, measure, check the whole portfolio's answers; always stop the server."""
    postgres = EmbeddedPostgres(workdir / "pg" / "data")
    try:
        dsn = await asyncio.to_thread(postgres.start)
        applied = await apply_migrations(dsn)
        print(f"migrations applied: {', '.join(applied)}", flush=True)
        loader: asyncpg.Connection = await asyncpg.connect(dsn)
        try:
            counts = await load_portfolio(
                loader, initiatives=args.initiatives, events=args.events, seed=args.seed, progress=print_flush
            )
        finally:
            await loader.close()
        print("rows: " + ", ".join(f"{table} {n:,}" for table, n in counts.items()), flush=True)
        conn = await connect(dsn)
        try:
            largest = await conn.fetchrow(
                "SELECT team, count(*)::float8 / sum(count(*)) OVER () AS share FROM initiatives GROUP BY team"
                " ORDER BY count(*) DESC LIMIT 1"
            )
            assert largest is not None
            team, share = largest["team"], largest["share"]
            since = datetime.now(UTC) - timedelta(days=365)
            last_year = await conn.fetchval("SELECT avg((submitted_at >= $1)::int)::float8 FROM initiatives", since)
            print(f"scopes: all; {team} ({share:.1%}, the largest team); last 365 d ({last_year:.1%})", flush=True)
            scopes = {
                "all": ReportFilters(),
                f"team={team}": ReportFilters(team=team),
                "last 365 d": ReportFilters(since=since),
            }
            # as the API process does once it has started (see worker.services.freeze_startup_objects)
            freeze_startup_objects()
            print(f"timing ({args.repeat} calls each; load average {os.getloadavg()[0]:.2f}) …", flush=True)
            rows, answers = await measure(conn, scopes, args.repeat, "run", args.only)
            print(f"load average after timing: {os.getloadavg()[0]:.2f}", flush=True)
            # Cohorts read their counters for any whole month, so "since 1970" is no row-by-row path for them; the
            # tests check those counters against the rows they count (tests/db/test_report_rollups.py).
            scanned = {
                (name, "all"): (time.time(), await row_by_row(conn, name))
                for name in REPORTS
                if (not args.only or name in args.only) and name != "cohorts"
            }
        finally:
            await conn.close()
    finally:
        postgres.stop()
    problems = compare({key: answers[key] for key in scanned}, scanned)
    print("\n" + table(rows))
    print("\nwhole portfolio from the counters = from every row: " + ("yes" if not problems else "NO"))
    for problem in problems[:20]:
        print(f"  {problem}")
    return 1 if problems else 0


def print_flush(message: str) -> None:
    """Progress output."""
    print(message, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench.reports", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--initiatives", type=int, default=100_000, help="initiatives (default 100000)")
    parser.add_argument(
        "--events",
        type=int,
        default=1_000_000,
        help="lifecycle events to aim for (default 1000000); fillers top up to it, "
        "but the lifecycles themselves take about 11 per initiative",
    )
    parser.add_argument("--repeat", type=int, default=30, help="timed calls per report and scope (default 30)")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the portfolio (default 7)")
    parser.add_argument(
        "--only",
        type=lambda text: frozenset(t.strip() for t in text.split(",") if t.strip()),
        default=frozenset(),
        help="measure only these reports (comma-separated, e.g. funnel,cohorts; default: all)",
    )
    args = parser.parse_args(argv)
    if unknown := sorted(args.only - set(REPORTS)):
        parser.error(f"unknown report(s): {', '.join(unknown)}; available: {', '.join(REPORTS)}")
    if min(args.initiatives, args.events, args.repeat) < 1:
        parser.error("--initiatives, --events and --repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    configure_logging("WARNING")
    with tempfile.TemporaryDirectory(prefix="liftoff-bench-reports-") as tmp:
        return asyncio.run(run(Path(tmp), args))


if __name__ == "__main__":
    raise SystemExit(main())
