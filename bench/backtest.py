"""Policy backtest at portfolio scale: how long ``POST /v1/policy/backtest`` takes for N initiatives.

A synthetic portfolio (``bench.reports_data``) is loaded into an embedded PostgreSQL; the backtest then runs
``--repeat`` times for each candidate: the policy in force (a baseline: same replay, no differences), halved
SLAs, and a quorum adding security at the infrastructure review. The issue's bar: seconds for 10k initiatives.

    uv run python -m bench.backtest --initiatives 10000 --repeat 5
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

from api.backtest import backtest
from bench.reports_data import load_portfolio
from db.pool import create_pool
from schemas.policy_file import load_policy, policy_with
from schemas.reports import ReportFilters
from worker.dev import apply_migrations
from worker.embedded import EmbeddedPostgres
from worker.logging import configure_logging

TARGET_SECONDS = 10.0


def candidates() -> dict[str, dict[str, Any]]:
    """The candidate policies timed, by name."""
    policy = load_policy()
    halved = {stage.value: {"sla": f"PT{int(p.sla.total_seconds() // 2)}S"} for stage, p in policy.stages.items()}
    return {
        "policy in force": {},
        "halved SLAs": {"version": "halved", "stages": halved},
        "+security quorum": {"version": "security", "quorum": {"infra_review": ["infrastructure", "security"]}},
    }


async def run(workdir: Path, args: argparse.Namespace) -> int:
    """Load, time each candidate, print the table; always stop the server."""
    postgres = EmbeddedPostgres(workdir / "pg" / "data")
    try:
        dsn = await asyncio.to_thread(postgres.start)
        await apply_migrations(dsn)
        pool = await create_pool(dsn)
        try:
            loader: asyncpg.Connection = await asyncpg.connect(dsn)
            try:
                counts = await load_portfolio(
                    loader, initiatives=args.initiatives, events=args.initiatives * 11, seed=7, progress=print
                )
            finally:
                await loader.close()
            print("rows: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()), flush=True)
            baseline = load_policy()
            rows = []
            for name, override in candidates().items():
                candidate = policy_with(override)
                seconds, result = [], None
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    result = await backtest(pool, ReportFilters(), baseline, candidate)
                    seconds.append(time.perf_counter() - started)
                assert result is not None
                t = result.totals
                rows.append(
                    (name, statistics.median(seconds), max(seconds), result.initiatives, t, len(result.changed))
                )
                print(f"  {name:<18} median {statistics.median(seconds):6.2f} s", flush=True)
        finally:
            await pool.close()
    finally:
        postgres.stop()
    print(
        f"\n{'candidate':<18} {'p50 s':>7} {'max s':>7} {'initiatives':>11} {'stalls b/c':>13} "
        f"{'abandoned b/c':>14} {'not closed b/c':>15} {'changes':>8}  target < {TARGET_SECONDS:g} s"
    )
    for name, p50, worst, n, t, changes in rows:
        print(
            f"{name:<18} {p50:7.2f} {worst:7.2f} {n:11,} {t.stalls.baseline:>6}/{t.stalls.candidate:<6} "
            f"{t.abandoned.baseline:>7}/{t.abandoned.candidate:<6} {t.gates_not_closed.baseline:>7}/"
            f"{t.gates_not_closed.candidate:<7} {changes:8,}  {'ok' if worst < TARGET_SECONDS else 'MISS'}"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m bench.backtest", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--initiatives", type=int, default=10_000, help="initiatives (default 10000)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per candidate (default 5)")
    args = parser.parse_args(argv)
    configure_logging("WARNING")
    with tempfile.TemporaryDirectory(prefix="liftoff-bench-backtest-") as tmp:
        return asyncio.run(run(Path(tmp), args))


if __name__ == "__main__":
    raise SystemExit(main())
