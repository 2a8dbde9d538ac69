"""Decisions first: a person's decision stays fast while an import (or a burst of submissions) runs.

On the production topology from real parts (PostgreSQL, Temporal, ``liftoff worker``, ``liftoff api`` as
separate processes, configured only by ``LIFTOFF_*``), a client submits a fresh initiative and approves its
proposal once a second, and the approval's latency is measured (through the API, as a person decides):

* ``quiet``: nothing else runs (the baseline of this run);
* ``burst``: meanwhile ``--burst`` initiatives are submitted by 8 clients as fast as the API takes them
  (what an import without liftoff's import would be; measured before: one approval answered 503 after 30 s);
* ``import``: meanwhile ``--lines`` existing initiatives are imported with ``POST /v1/imports`` (spread over
  the stages, some overdue), started by the API's import runner at its rate and lowest task priority.

Prints import throughput, decision p50/p95/max, decisions that failed or timed out, and the worker's
resident memory (peak). Target: decision p95 < 1.5 s during the import, and no decision times out.

    uv run python -m bench.import --lines 5000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.chaos_load import submission_body
from bench.chaos_procs import Service, Topology

TARGET_P95_S = 1.5
ADMIN = "ada@demo.liftoff"
SUBMITTER = "alice@demo.liftoff"
PORTFOLIO = "paula@demo.liftoff"
#: Where imported initiatives are, by index modulo 10.
STAGES = (
    "proposed",
    "proposed",
    "proposed",
    "poc",
    "poc",
    "poc",
    "infra_review",
    "infra_review",
    "it_signoff",
    "production",
)


@dataclass
class Decisions:
    """Latencies (s) of the approvals, and those that did not succeed in time."""

    samples: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def why(self) -> str:
        """The failures, counted by kind."""
        kinds = Counter(f.split(" after ")[0] for f in self.failures)
        return ", ".join(f"{n} {kind}" for kind, n in kinds.most_common()) or "none"

    def row(self) -> dict[str, str]:
        """p50, p95, max of the successful ones, and how many failed."""
        s = sorted(self.samples)
        p95 = statistics.quantiles(s, n=20, method="inclusive")[-1] if len(s) >= 2 else (s[0] if s else 0.0)
        return {
            "decisions": str(len(s) + len(self.failures)),
            "p50 s": f"{statistics.median(s):.2f}" if s else "-",
            "p95 s": f"{p95:.2f}" if s else "-",
            "max s": f"{max(s):.2f}" if s else "-",
            "failed/timed out": str(len(self.failures)),
            "p95_value": f"{p95:.4f}" if s else "inf",
        }


def import_line(index: int, run: str, now: datetime, rng: random.Random) -> dict[str, Any]:
    """An existing initiative at one of the stages, submitted up to a year ago; every fourth is overdue."""
    body = submission_body(index, rng)
    stage = STAGES[index % len(STAGES)]
    submitted = now - timedelta(days=rng.randint(30, 365))
    waited = timedelta(days=200) if index % 4 == 0 else timedelta(days=rng.randint(1, 10))
    entered = max(submitted, now - waited)
    body.update(
        {
            "title": f"Imported initiative {index}",
            "stage": stage,
            "submitted_at": submitted.isoformat(),
            "stage_entered_at": entered.isoformat(),
            "submitter": SUBMITTER,
            "external_refs": [{"system": "bench", "ref": f"{run}-{index}"}],
        }
    )
    return body


def rss_mb(service: Service) -> float:
    """Resident memory of a process we started, in MB."""
    if service.pid is None:
        return 0.0
    for line in Path(f"/proc/{service.pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Bench:
    """The run's topology, its API client and the people's tokens."""

    def __init__(self, topo: Topology, http: httpx.AsyncClient) -> None:
        self.topo = topo
        self.http = http
        self.rng = random.Random(7)
        self.peak_rss = 0.0

    def auth(self, email: str) -> dict[str, str]:
        """The bearer header of a demo person."""
        return {"Authorization": f"Bearer {self.topo.tokens[email]}"}

    async def one_decision(self, index: int, into: Decisions) -> None:
        """Submit a fresh initiative, then time the approval of its proposal."""
        try:
            submitted = await self.http.post(
                "/v1/initiatives", json=submission_body(index, self.rng), headers=self.auth(SUBMITTER), timeout=60
            )
            if submitted.status_code != 201:
                into.failures.append(f"submit {submitted.status_code}")
                return
            iid = submitted.json()["id"]
            began = time.perf_counter()
            approved = await self.http.post(
                f"/v1/initiatives/{iid}/approve", json={"role": "portfolio"}, headers=self.auth(PORTFOLIO), timeout=60
            )
            took = time.perf_counter() - began
        except httpx.HTTPError as err:
            into.failures.append(type(err).__name__)
            return
        if approved.status_code == 200:
            into.samples.append(took)
        else:
            into.failures.append(f"approve {approved.status_code} after {took:.1f}s")

    async def decide_while(self, busy: asyncio.Task[Any] | None, seconds: float, base: int) -> Decisions:
        """One decision a second until ``busy`` ends (or for ``seconds`` when nothing runs)."""
        decisions = Decisions()
        running: list[asyncio.Task[None]] = []
        began = time.monotonic()
        n = 0
        while (busy is not None and not busy.done()) or (busy is None and time.monotonic() - began < seconds):
            running.append(asyncio.create_task(self.one_decision(base + n, decisions)))
            n += 1
            self.peak_rss = max(self.peak_rss, rss_mb(self.topo.worker))
            await asyncio.sleep(1.0)
        await asyncio.gather(*running)
        return decisions

    async def settle(self, quiet_for: float = 5.0) -> float:
        """Wait until no event has been recorded for ``quiet_for`` seconds (the last phase's work is done)."""
        began = time.perf_counter()
        conn = await asyncpg.connect(self.topo.postgres.dsn)
        try:
            last, since = -1, time.monotonic()
            while time.monotonic() - since < quiet_for:
                count = await conn.fetchval("SELECT count(*) FROM lifecycle_events")
                if count != last:
                    last, since = count, time.monotonic()
                await asyncio.sleep(0.5)
        finally:
            await conn.close()
        return time.perf_counter() - began

    async def burst(self, count: int, clients: int = 8) -> float:
        """Submit ``count`` initiatives with ``clients`` concurrent clients; returns submissions per second."""
        queue = iter(range(count))
        began = time.perf_counter()

        async def client() -> None:
            for i in queue:
                body = submission_body(100_000 + i, self.rng)
                try:
                    await self.http.post("/v1/initiatives", json=body, headers=self.auth(SUBMITTER), timeout=60)
                except httpx.HTTPError:
                    continue

        await asyncio.gather(*(client() for _ in range(clients)))
        return count / (time.perf_counter() - began)

    async def run_import(self, lines: int) -> tuple[float, dict[str, Any]]:
        """Import ``lines`` initiatives and wait for the end; returns lines started per second and the status."""
        now = datetime.now(UTC)
        run = now.strftime("%Y%m%d%H%M%S")
        text = "\n".join(json.dumps(import_line(i, run, now, self.rng)) for i in range(lines)) + "\n"
        began = time.perf_counter()
        accepted = await self.http.post("/v1/imports", content=text, headers=self.auth(ADMIN), timeout=600)
        accepted.raise_for_status()
        import_id = accepted.json()["id"]
        while True:
            status = (await self.http.get(f"/v1/imports/{import_id}", headers=self.auth(ADMIN), timeout=60)).json()
            if status["done"]:
                return lines / (time.perf_counter() - began), status
            done = status["lines"] - status["waiting"]
            print(f"\r  imported {done}/{status['lines']}", end="", file=sys.stderr, flush=True)
            await asyncio.sleep(2)


def _table(rows: list[dict[str, str]]) -> str:
    keys = [k for k in rows[0] if k != "p95_value"]
    widths = {k: max(len(k), *(len(r[k]) for r in rows)) for k in keys}
    lines = ["  ".join(k.ljust(widths[k]) for k in keys)]
    lines += ["  ".join(r[k].ljust(widths[k]) for k in keys) for r in rows]
    return "\n".join(lines)


def _reachable_by_postgres(run_dir: Path) -> None:
    run_dir.chmod(0o755)  # the postgres user must reach its data dir inside


async def main_async(args: argparse.Namespace) -> int:
    """Build the topology, run the three phases, print the table."""
    with tempfile.TemporaryDirectory(prefix="liftoff-import-") as tmp:
        _reachable_by_postgres(Path(tmp))
        topo = Topology(Path(tmp), lambda m: print(m, file=sys.stderr))
        async with httpx.AsyncClient(base_url=topo.api_url) as http:
            try:
                await topo.start(http)
                bench = Bench(topo, http)
                idle_rss = rss_mb(topo.worker)
                print(f"quiet: {args.quiet:.0f} s of decisions …", file=sys.stderr)
                quiet = await bench.decide_while(None, args.quiet, 0)
                rows = [{"phase": "quiet", "work": "-", **quiet.row()}]
                failures = [("quiet", quiet.why())]
                if args.burst:
                    print(f"burst: {args.burst} submissions by 8 clients …", file=sys.stderr)
                    task = asyncio.create_task(bench.burst(args.burst))
                    during = await bench.decide_while(task, 0, 10_000)
                    rows.append({"phase": "burst", "work": f"{args.burst} at {task.result():.1f}/s", **during.row()})
                    failures.append(("burst", during.why()))
                    print(f"  settled in {await bench.settle():.0f} s", file=sys.stderr)
                print(f"import: {args.lines} lines …", file=sys.stderr)
                bench.peak_rss = 0.0
                imported = asyncio.create_task(bench.run_import(args.lines))
                during = await bench.decide_while(imported, 0, 20_000)
                rate, status = imported.result()
                print(file=sys.stderr)
                work = f"{status['started']} started at {rate:.1f}/s ({status['failed']} failed)"
                rows.append({"phase": "import", "work": work, **during.row()})
                failures.append(("import", during.why()))
            finally:
                topo.stop_all()
    print()
    print(_table(rows))
    p95 = float(rows[-1]["p95_value"])
    ok = p95 < TARGET_P95_S and rows[-1]["failed/timed out"] == "0"
    for phase, why in failures:
        print(f"failed in {phase}: {why}")
    print(f"\nworker RSS: idle {idle_rss:.0f} MB, peak during the import {bench.peak_rss:.0f} MB")
    print(f"target: decision p95 < {TARGET_P95_S} s during the import, none timed out: {'ok' if ok else 'MISS'}")
    return 0 if ok else 1


def main() -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=5000, help="initiatives to import (default 5000)")
    parser.add_argument("--burst", type=int, default=2000, help="submissions in the burst phase (0: skip)")
    parser.add_argument("--quiet", type=float, default=30, help="seconds of decisions with nothing else running")
    sys.exit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
