"""Initiatives through the happy path per second, against a raw floor in the same run, plus cold start.

The real side drives ``InitiativeWorkflow`` through the six updates of the happy path with the real
activities on an embedded PostgreSQL, under the default policy (reminders included); the history cost
is counted on one initiative without reminders (the goal's terms) and on one with them.
The floor (``bench.floor_workflow``) takes the same updates and
makes the same number of activity calls, counted from a real run's history, with no-op activities.
Both run on one Temporal dev server, in one process, in alternating rounds. Then ``liftoff dev`` is
timed from spawn to its banner, on an empty data dir and again on the same one.

    uv run python -m bench.lifecycle --initiatives 20 --concurrency 5 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench import cold_start
from bench.floor_workflow import FloorChildWorkflow, FloorWorkflow, floor_noop
from bench.happy_path import Handle, HistoryCost, history_cost, plan_from_run, run_floor, run_real
from db.pool import create_pool
from schemas.notifications import NotificationPolicy
from schemas.policy_file import load_policy
from worker.dev import apply_migrations
from worker.embedded import EmbeddedPostgres, find_binary
from worker.logging import configure_logging
from worker.temporal_client import DATA_CONVERTER
from worker.wiring import build_worker
from workflows import search_attributes as sa

TARGET_RATIO = 0.9
TARGET_EVENTS = 110
TARGET_ACTIONS = 35
TARGET_COLD_START_S = 5.0


async def timed_round(count: int, concurrency: int, one: Callable[[], Awaitable[Handle]]) -> float:
    """Run ``count`` initiatives, at most ``concurrency`` at a time; returns initiatives per second."""
    gate = asyncio.Semaphore(concurrency)

    async def guarded() -> None:
        async with gate:
            await one()

    started = time.perf_counter()
    await asyncio.gather(*(guarded() for _ in range(count)))
    return count / (time.perf_counter() - started)


@dataclass(frozen=True)
class Measured:
    """Medians of the alternating rounds, and the history cost of one real initiative."""

    real: float
    floor: float
    #: The initiative's own history, and with its rollout child (whose start and activities it pays for),
    #: without reminders (what the goal was set for) ...
    own: HistoryCost
    cost: HistoryCost
    #: ... and with the default policy's reminders (decisions in seconds move the alarm earlier each stage).
    reminding: HistoryCost


async def throughput(client: Client, pool: asyncpg.Pool, args: argparse.Namespace) -> Measured:
    """Warm up, derive the floor's plan from a real history, then alternate rounds; returns the medians."""
    policy = load_policy()
    real_q, floor_q = f"bench-real-{uuid.uuid4().hex[:8]}", f"bench-floor-{uuid.uuid4().hex[:8]}"
    floor_worker = Worker(
        client, task_queue=floor_q, workflows=[FloorWorkflow, FloorChildWorkflow], activities=[floor_noop]
    )
    async with build_worker(client, pool, task_queue=real_q), floor_worker:
        print(f"warm-up: {args.warmup} real initiatives …", flush=True)
        handles = await asyncio.gather(*(run_real(client, real_q, policy) for _ in range(args.warmup)))
        plan, children = await plan_from_run(client, handles[0])
        total = plan.parent_activities + plan.child
        print(
            f"real happy path: {len(plan.during)} updates, {plan.parent_activities} activity calls in the initiative "
            f"+ {children} child workflow(s) with {plan.child} activities = {total} activity calls "
            f"(a regular, l local: head {plan.head!r}, during updates {plan.during}, after updates {plan.after}, "
            f"tail {plan.tail!r})"
        )
        _, reminding = await history_cost(client, handles[0])
        quiet = policy.model_copy(update={"notifications": NotificationPolicy(reminders_at=[])})
        own, cost = await history_cost(client, await run_real(client, real_q, quiet))
        print(
            f"history of one initiative: {own.events} events ({cost.events} with its rollout), {cost.actions} "
            f"billable actions with the rollout ({cost.activities} activities, {cost.local_activity_tasks} workflow "
            f"tasks with local activities, {cost.upserts} search-attribute upserts, {cost.timers} timers)"
        )
        print(f"warm-up: {args.warmup} floor workflows …", flush=True)
        floors = await asyncio.gather(*(run_floor(client, floor_q, plan) for _ in range(args.warmup)))
        floor_plan, floor_children = await plan_from_run(client, floors[0])
        floor_total = floor_plan.parent_activities + floor_plan.child
        print(f"floor check: {floor_children} child workflow(s), {floor_total} activity calls (no-op)")
        if floor_plan.parent_calls != plan.parent_calls or floor_total != total or floor_children != children:
            raise RuntimeError("the floor does not make the same calls as the real happy path")

        rates: dict[str, list[float]] = {"real": [], "floor": []}
        sides: dict[str, Callable[[], Awaitable[Handle]]] = {
            "real": lambda: run_real(client, real_q, policy),
            "floor": lambda: run_floor(client, floor_q, plan),
        }
        for index in range(args.rounds):
            order = ["real", "floor"] if index % 2 == 0 else ["floor", "real"]
            for side in order:
                rate = await timed_round(args.initiatives, args.concurrency, sides[side])
                rates[side].append(rate)
                print(
                    f"round {index + 1}/{args.rounds} {side:<5}: {args.initiatives} initiatives, "
                    f"{rate:6.2f}/s ({args.initiatives / rate:5.1f} s)",
                    flush=True,
                )
    return Measured(statistics.median(rates["real"]), statistics.median(rates["floor"]), own, cost, reminding)


async def measure_throughput(workdir: Path, args: argparse.Namespace) -> Measured:
    """Start PostgreSQL and Temporal for the throughput part and always stop them."""
    postgres = EmbeddedPostgres(workdir / "pg" / "data")
    try:
        dsn = await asyncio.to_thread(postgres.start)
        await apply_migrations(dsn)
        pool = await create_pool(dsn)
        try:
            keys = [key for key in vars(sa).values() if isinstance(key, SearchAttributeKey)]
            env = await WorkflowEnvironment.start_local(
                dev_server_existing_path=find_binary("temporal"),
                data_converter=DATA_CONVERTER,
                search_attributes=keys,
                dev_server_log_level="error",
            )
            try:
                return await throughput(env.client, pool, args)
            finally:
                await env.shutdown()
        finally:
            await pool.close()
    finally:
        postgres.stop()


async def main_async(args: argparse.Namespace) -> int:
    """Throughput first (its servers stopped afterwards), then ``liftoff dev`` cold start; print the table."""
    with tempfile.TemporaryDirectory(prefix="liftoff-bench-") as tmp:
        workdir = Path(tmp)
        measured = await measure_throughput(workdir, args)
        starts = None if args.skip_cold_start else await cold_start.measure(workdir)
    ratio = measured.real / measured.floor
    cost = measured.cost
    print()
    print(f"{'':<34}{'value':>10}  target")
    print(f"{'real initiatives/s (median)':<34}{measured.real:>10.2f}")
    print(f"{'floor initiatives/s (median)':<34}{measured.floor:>10.2f}")
    verdict = "ok" if ratio >= TARGET_RATIO else "BELOW TARGET"
    print(f"{'ratio real/floor':<34}{ratio:>10.2f}  >= {TARGET_RATIO}  {verdict}")
    verdict = "ok" if measured.own.events < TARGET_EVENTS else "ABOVE TARGET"
    print(f"{'history events per initiative':<34}{measured.own.events:>10}  < {TARGET_EVENTS}  {verdict}")
    print(f"{'  with its rollout child':<34}{cost.events:>10}")
    verdict = "ok" if cost.actions < TARGET_ACTIONS else "ABOVE TARGET"
    print(f"{'billable actions (with rollout)':<34}{cost.actions:>10}  < {TARGET_ACTIONS}  {verdict}")
    reminding = measured.reminding
    print(f"{'  with reminders: events / actions':<34}{f'{reminding.events} / {reminding.actions}':>10}")
    if starts is not None:
        cold, warm = starts
        verdict = "ok" if cold.ready_s < TARGET_COLD_START_S else "ABOVE TARGET"
        print(f"{'liftoff dev cold start (s)':<34}{cold.ready_s:>10.2f}  < {TARGET_COLD_START_S:.0f}  {verdict}")
        print(f"{'liftoff dev warm restart (s)':<34}{warm.ready_s:>10.2f}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench.lifecycle", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--initiatives", type=int, default=20, help="initiatives per round and side (default 20)")
    parser.add_argument("--concurrency", type=int, default=5, help="initiatives in flight at once (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating real/floor rounds; median (default 3)")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured initiatives per side first (default 2)")
    parser.add_argument("--skip-cold-start", action="store_true", help="do not time `liftoff dev`")
    args = parser.parse_args(argv)
    if min(args.initiatives, args.concurrency, args.rounds, args.warmup) < 1:
        parser.error("--initiatives, --concurrency, --rounds and --warmup must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    configure_logging("WARNING")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
