"""Many open initiatives at once: worker memory, decision latency with a warm and a cold cache, replay, two workers.

Initiatives stay open for months, so the number open at once is what grows. This starts ``--initiatives``
(default 10,000) spread over the stages (30% proposed, 30% PoC, 20% infrastructure review, 10% IT sign-off,
5% on hold, 5% stalled with escalations) on a Temporal dev server and PostgreSQL of its own, driven by
``liftoff worker`` processes configured only by ``LIFTOFF_*`` variables, then measures:

* the worker's resident memory, idle and with every initiative open (the sticky cache full at its size);
* decision latency (one ``approve`` at a time, through the client) on initiatives evicted long ago: warm
  (a status query has just brought each into the cache) and cold (the decision replays its history first);
* the time to replay the longest history, as a worker that lost its cache does;
* the same decisions with two workers;
* the report rollups' shared counter rows under four concurrent writer processes (``bench.scale_rollups``).

    uv run python -m bench.scale --initiatives 10000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle

from bench import scale_rollups
from bench.chaos_procs import LiftoffEnv, Service, Temporal, free_port, liftoff_binary
from bench.happy_path import SUBMITTER, start_input
from bench.worker_slots import KINDS, sampling
from schemas.contract import INITIATIVE_WORKFLOW, workflow_id_for
from schemas.decisions import ApproveInput, HoldInput, SubmitPocResultsInput
from schemas.initiative import StartInitiativeInput
from schemas.policy import Policy
from schemas.policy_file import load_policy
from schemas.stages import Role, Stage
from schemas.status import InitiativeStatusView
from schemas.taxonomy import ReasonCode
from worker.dev import apply_migrations
from worker.embedded import EmbeddedPostgres
from worker.logging import configure_logging
from worker.replay import replay_history
from worker.settings import Settings
from worker.temporal_client import connect_client
from workflows import search_attributes as sa

TARGET_RSS_MB = 600
TARGET_COLD_OVER_WARM = 2.0
Handle = WorkflowHandle[Any, Any]

#: Where each initiative stops, by its index modulo 20.
PLAN = (
    [Stage.PROPOSED] * 6 + [Stage.POC] * 6 + [Stage.INFRA_REVIEW] * 4 + [Stage.IT_SIGNOFF] * 2 + ["on_hold", "stalled"]
)


def _plan(index: int) -> Stage | str:
    return PLAN[index % len(PLAN)]


async def _update(handle: Handle, name: str, payload: Any) -> InitiativeStatusView:  # noqa: ANN401 - any payload
    view: InitiativeStatusView = await handle.execute_update(name, payload, result_type=InitiativeStatusView)
    return view


def _stalling(policy: Policy) -> Policy:
    """The policy with a proposed stage that stalls after a second and escalates twice soon after."""
    stages = dict(policy.stages)
    stages[Stage.PROPOSED] = stages[Stage.PROPOSED].model_copy(
        update={"sla": timedelta(seconds=1), "abandon_after": timedelta(days=365)}
    )
    return policy.model_copy(update={"stages": stages})


async def open_initiative(client: Client, queue: str, index: int, policy: Policy, stalling: Policy) -> str:
    """Start one initiative and walk it to where the plan leaves it open; returns its id."""
    where = _plan(index)
    inp: StartInitiativeInput = start_input(stalling if where == "stalled" else policy)
    submitted = datetime.fromisoformat(inp.submitted_at_iso)
    handle: Handle = await client.start_workflow(
        INITIATIVE_WORKFLOW,
        inp,
        id=workflow_id_for(inp.initiative_id),
        task_queue=queue,
        search_attributes=sa.for_start(inp, submitted),
    )
    if where in (Stage.PROPOSED, "stalled"):
        return inp.initiative_id
    await _update(handle, "approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO))
    if where == "on_hold":
        await _update(handle, "hold", HoldInput(actor=SUBMITTER, reason_code=ReasonCode.BUDGET_CUT))
    if where in (Stage.POC, "on_hold"):
        return inp.initiative_id
    await _update(handle, "submit_poc_results", SubmitPocResultsInput(actor=SUBMITTER, metrics={"auc": 0.91}))
    await _update(handle, "approve", ApproveInput(approver="bob@example.com", role=Role.BUSINESS_OWNER))
    if where is Stage.INFRA_REVIEW:
        return inp.initiative_id
    await _update(handle, "approve", ApproveInput(approver="ian@example.com", role=Role.INFRASTRUCTURE))
    return inp.initiative_id


async def populate(client: Client, queue: str, count: int, concurrency: int) -> list[str]:
    """Open ``count`` initiatives, ``concurrency`` at a time, in index order; prints progress."""
    policy = load_policy()
    stalling = _stalling(policy)
    ids: list[str] = [""] * count
    next_index = 0
    done = 0
    started = time.perf_counter()

    async def lane() -> None:
        nonlocal next_index, done
        while next_index < count:
            index = next_index
            next_index += 1
            ids[index] = await open_initiative(client, queue, index, policy, stalling)
            done += 1
            if done % 500 == 0 or done == count:
                rate = done / (time.perf_counter() - started)
                print(f"  opened {done:>6}/{count} initiatives ({rate:5.1f}/s)", flush=True)

    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return ids


def rss_mb(service: Service) -> float:
    """Resident memory of a process we started, in MB (``VmRSS``)."""
    assert service.pid is not None
    for line in Path(f"/proc/{service.pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    msg = "no VmRSS"
    raise RuntimeError(msg)


@dataclass(frozen=True)
class Latency:
    """Decision latencies in milliseconds."""

    samples: list[float]

    @property
    def p50(self) -> float:
        """Median."""
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        """95th percentile."""
        return statistics.quantiles(self.samples, n=20, method="inclusive")[-1]


async def decide(client: Client, ids: list[str], *, warm: bool) -> Latency:
    """Approve each proposed initiative in ``ids`` (one at a time); the latency of each decision.

    ``warm`` first asks each initiative for its status (untimed): the worker replays it into its cache, so
    the decision finds it there. Otherwise the decision itself pays for the replay. Both samples come from
    the same kind of initiative (proposed, opened long ago), so they differ only by the cache.
    """
    samples = []
    for iid in ids:
        handle = client.get_workflow_handle(workflow_id_for(iid))
        if warm:
            await handle.query("status")
        began = time.perf_counter()
        await _update(handle, "approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO))
        samples.append((time.perf_counter() - began) * 1000)
    return Latency(samples)


def proposed(ids: list[str], indices: range) -> list[str]:
    """The still-proposed initiatives among ``indices`` (each used for one decision only)."""
    return [ids[i] for i in indices if _plan(i) is Stage.PROPOSED]


async def longest_replay(client: Client, ids: list[str]) -> tuple[int, float]:
    """Events of the longest history among one initiative per plan, and its replay time (median of 5, ms)."""
    longest = None
    for index in range(len(PLAN)):
        history = await client.get_workflow_handle(workflow_id_for(ids[index])).fetch_history()
        if longest is None or len(history.events) > len(longest.events):
            longest = history
    assert longest is not None
    times = []
    for _ in range(5):
        began = time.perf_counter()
        result = await replay_history(longest)
        times.append((time.perf_counter() - began) * 1000)
        if result.replay_failure is not None:
            raise RuntimeError(f"replay failed: {result.replay_failure}")
    return len(longest.events), statistics.median(times)


class Stack:
    """PostgreSQL, Temporal and liftoff workers of the run, always stopped."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.postgres = EmbeddedPostgres(root / "pg" / "data")
        self.temporal = Temporal(root / "temporal", free_port())
        self.workers: list[Service] = []
        self.metrics_ports: list[int] = []
        self.env: dict[str, str] = {}

    async def start(self, cache: int | None) -> None:
        """Start PostgreSQL (migrated) and Temporal; the workers come later."""
        dsn = await asyncio.to_thread(self.postgres.start)
        await apply_migrations(dsn)
        await self.temporal.start()
        principals = self.root / "principals.yaml"
        principals.write_text("principals: []\n", encoding="utf-8")
        settings = LiftoffEnv(
            database_url=dsn, temporal_address=self.temporal.address, principals_file=principals, api_port=free_port()
        )
        # Decisions come straight from the client here, unsigned: no approval secret.
        self.env = {k: v for k, v in settings.env().items() if k != "LIFTOFF_APPROVAL_SECRET"}
        self.env["LIFTOFF_ALLOW_UNVERIFIED_APPROVALS"] = "true"
        if cache is not None:
            self.env["LIFTOFF_MAX_CACHED_WORKFLOWS"] = str(cache)

    async def add_worker(self) -> Service:
        """Start one more ``liftoff worker`` and give it time to poll."""
        n = len(self.workers) + 1
        port = free_port()
        env = self.env | {"LIFTOFF_METRICS_ADDRESS": f"127.0.0.1:{port}"}
        service = Service(f"worker-{n}", [liftoff_binary(), "worker"], self.root / f"worker-{n}.log", env=env)
        self.metrics_ports.append(port)
        service.start()
        self.workers.append(service)
        await asyncio.sleep(4)
        if not service.running:
            tail = service.log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
            msg = f"{service.name} exited (code {service.exit_code()}):\n{tail}"
            raise RuntimeError(msg)
        return service

    def stop(self) -> None:
        """Stop everything we started."""
        for service in self.workers:
            service.stop()
        self.temporal.service.stop()
        self.postgres.stop()


async def _timed(label: str, step: Callable[[], Awaitable[Any]]) -> Any:  # noqa: ANN401 - passes any result
    print(f"{label} …", flush=True)
    began = time.perf_counter()
    result = await step()
    print(f"  {label}: {time.perf_counter() - began:.1f} s", flush=True)
    return result


async def main_async(args: argparse.Namespace) -> int:
    """Build the portfolio, measure, print the table."""
    rows: list[tuple[str, str, str]] = []
    cache = args.cache if args.cache is not None else Settings.model_fields["max_cached_workflows"].default
    opened_cold = sum(1 for i in range(max(args.initiatives - cache, 0)) if _plan(i) is Stage.PROPOSED)
    if opened_cold < 4 * args.decisions:
        print(
            f"--decisions {args.decisions} needs {4 * args.decisions} proposed initiatives outside a cache of "
            f"{cache}; {args.initiatives} initiatives have {opened_cold}",
            file=sys.stderr,
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="liftoff-scale-") as tmp:
        stack = Stack(Path(tmp))
        try:
            await stack.start(args.cache)
            first = await stack.add_worker()
            idle = rss_mb(first)
            client = await connect_client(stack.temporal.address)
            queue = stack.env.get("LIFTOFF_TASK_QUEUE", "liftoff")
            async with sampling(stack.metrics_ports[0]) as opening:
                ids = await _timed(
                    f"opening {args.initiatives} initiatives",
                    lambda: populate(client, queue, args.initiatives, args.concurrency),
                )
            await asyncio.sleep(5)  # the last sandbox provisioning and stall timers settle
            full = rss_mb(first)
            rows += [
                ("worker RSS idle (MB)", f"{idle:.0f}", ""),
                (f"worker RSS, {args.initiatives} open, cache {cache} (MB)", f"{full:.0f}", f"< {TARGET_RSS_MB}"),
            ]
            n = args.decisions
            # The cache holds the workflows used last: the first ones opened were evicted long ago. Each sample
            # takes fresh ones (an approved initiative leaves the proposed stage), alternating warm and cold.
            pool = iter(proposed(ids, range(args.initiatives - cache)))
            batch = [[next(pool) for _ in range(n)] for _ in range(4)]
            async with sampling(stack.metrics_ports[0]) as deciding:
                warm = await _timed("warm decisions", lambda: decide(client, batch[0], warm=True))
                cold = await _timed("cold decisions", lambda: decide(client, batch[1], warm=False))
            ratio = cold.p95 / warm.p95
            verdict = "ok" if ratio < TARGET_COLD_OVER_WARM else "ABOVE TARGET"
            after = rss_mb(first)
            rows += [
                ("one worker: warm decision p50 / p95 (ms)", f"{warm.p50:.0f} / {warm.p95:.0f}", ""),
                ("one worker: cold decision p50 / p95 (ms)", f"{cold.p50:.0f} / {cold.p95:.0f}", ""),
                ("cold p95 / warm p95", f"{ratio:.2f}", f"< {TARGET_COLD_OVER_WARM:.0f}  {verdict}"),
                ("worker RSS after the cold decisions (MB)", f"{after:.0f}", f"< {TARGET_RSS_MB}"),
                (f"peak slots used, {' / '.join(KINDS.values())}", "", ""),
                (f"  opening, {args.concurrency} initiatives at a time", opening.describe(), "of 100 / 100 / 100"),
                ("  one decision at a time", deciding.describe(), ""),
            ]
            events, replay_ms = await longest_replay(client, ids)
            rows.append((f"replay of the longest history ({events} events, ms)", f"{replay_ms:.0f}", ""))
            second = await stack.add_worker()
            warm2 = await _timed("two workers: warm decisions", lambda: decide(client, batch[2], warm=True))
            cold2 = await _timed("two workers: cold decisions", lambda: decide(client, batch[3], warm=False))
            rows += [
                ("two workers: warm decision p50 / p95 (ms)", f"{warm2.p50:.0f} / {warm2.p95:.0f}", ""),
                ("two workers: cold decision p50 / p95 (ms)", f"{cold2.p50:.0f} / {cold2.p95:.0f}", ""),
                ("two workers: RSS each (MB)", f"{rss_mb(first):.0f} / {rss_mb(second):.0f}", ""),
            ]
            dsn = stack.env["LIFTOFF_DATABASE_URL"]
            rollups = await _timed("rollup writers", lambda: scale_rollups.measure(dsn, args.rollup_batches))
            rows += rollups.rows()
        except BaseException:
            for service in stack.workers:
                lines = service.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
                print(f"--- last lines of {service.name}'s log:", *lines, sep="\n", file=sys.stderr)
            raise
        finally:
            stack.stop()
    print()
    print(f"{'':<52}{'value':>14}  target")
    for label, value, target in rows:
        print(f"{label:<52}{value:>14}  {target}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--initiatives", type=int, default=10_000, help="initiatives open at once (default 10000)")
    parser.add_argument("--concurrency", type=int, default=24, help="initiatives being opened at once (default 24)")
    parser.add_argument("--decisions", type=int, default=100, help="decisions per latency sample (default 100)")
    parser.add_argument(
        "--cache", type=int, default=None, help="LIFTOFF_MAX_CACHED_WORKFLOWS of the workers (default: liftoff's)"
    )
    parser.add_argument(
        "--rollup-batches", type=int, default=400, help="batches each rollup writer records (default 400)"
    )
    args = parser.parse_args(argv)
    if args.initiatives < 200 or args.decisions < 20:
        parser.error("--initiatives must be at least 200 and --decisions at least 20")
    return args


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    configure_logging("WARNING")
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(main_async(args))
    return 130


if __name__ == "__main__":
    raise SystemExit(main())
