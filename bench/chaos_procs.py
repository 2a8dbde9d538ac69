"""The chaos harness's processes: PostgreSQL, the Temporal dev server, ``liftoff worker`` and ``liftoff api``.

Every process is started here with ``start_new_session=True``, so it leads its own process group, and
only that group is ever signalled, and only while its leader has not been reaped (a reaped leader's
group id could in principle name somebody else's processes later). Nothing here looks processes up by
name: the harness stops exactly what it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.service import RPCError

from worker.embedded import TemporalDevServer, wait_for_port
from worker.temporal_client import connect_client
from workflows.search_attributes import CLI_TYPES

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_USER = "postgres"
STOP_GRACE_S = 10.0


class HarnessError(RuntimeError):
    """The harness could not set up or drive its topology (not a finding about the system)."""


def free_port() -> int:
    """A port nothing listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def require_postgres() -> None:
    """Fail with what to install when Debian's PostgreSQL 15 is missing."""
    missing = [name for name in ("initdb", "pg_ctl", "postgres") if not (PG_BIN / name).exists()]
    if missing:
        msg = (
            f"PostgreSQL 15 server binaries not found in {PG_BIN} (missing: {', '.join(missing)}); "
            "install them with `apt-get install postgresql` (Debian's postgresql-15)"
        )
        raise HarnessError(msg)


def _as_postgres() -> dict[str, Any]:
    """Popen arguments that run a command as the ``postgres`` user when we are root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return {}
    try:
        entry = pwd.getpwnam(PG_USER)
    except KeyError as err:
        msg = f"we run as root and there is no {PG_USER!r} user to run PostgreSQL as; install postgresql-15"
        raise HarnessError(msg) from err
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _give_to_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam(PG_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)


class Service:
    """One long-running OS process that we started, leading its own process group."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        popen_extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.popen_extra = dict(popen_extra or {})
        self._proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def pid(self) -> int | None:
        """The leader's pid while it runs."""
        return self._proc.pid if self.running and self._proc is not None else None

    @property
    def running(self) -> bool:
        """Whether the process we started has not exited (reaps it if it has)."""
        return self._proc is not None and self._proc.poll() is None

    def exit_code(self) -> int | None:
        """The exit code once the process has ended."""
        return None if self._proc is None else self._proc.poll()

    def start(self) -> None:
        """Spawn the process, appending its output to its log file."""
        if self.running:
            msg = f"{self.name} is already running"
            raise HarnessError(msg)
        with self.log_path.open("ab") as log:
            log.write(f"\n=== chaos harness: start #{self.starts + 1} of {self.name} at {time.ctime()}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(  # noqa: S603 - our own binaries, fixed arguments
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                start_new_session=True,
                **self.popen_extra,
            )
        self.starts += 1

    def _signal_group(self, sig: signal.Signals) -> bool:
        # Only while the leader is unreaped: its pid, hence our group id, cannot have been reused.
        if self._proc is None or self._proc.poll() is not None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, sig)
        return True

    async def wait_exit(self, timeout: float) -> bool:
        """Wait (without blocking the loop) until the process has exited; True if it did."""
        deadline = time.monotonic() + timeout
        while self.running:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def kill9(self) -> None:
        """``kill -9`` the process group and reap the leader."""
        if self._signal_group(signal.SIGKILL):
            await self.wait_exit(30)

    async def terminate(self, timeout: float) -> int | None:
        """SIGTERM to the group; the exit code once the process has exited, None if it still runs at ``timeout``."""
        if not self._signal_group(signal.SIGTERM):
            return self.exit_code()
        await self.wait_exit(timeout)
        return self.exit_code()

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        """SIGTERM to the group, SIGKILL after ``grace`` seconds (blocking: used on every way out)."""
        if not self._signal_group(signal.SIGTERM):
            return
        assert self._proc is not None
        try:
            self._proc.wait(grace)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(10)


class Postgres:
    """A PostgreSQL 15 cluster of our own on 127.0.0.1, run as the ``postgres`` user, trust auth."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.port = port
        self.dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        self.service = Service(
            "postgres",
            [
                str(PG_BIN / "postgres"),
                "-D",
                str(self.data_dir),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"port={port}",
                "-c",
                f"unix_socket_directories={root}",
                "-c",
                "max_connections=200",
            ],
            root.parent / "postgres.log",
            popen_extra=_as_postgres(),
        )

    async def init(self) -> None:
        """Create the cluster's directory (owned by ``postgres``) and run ``initdb``."""
        require_postgres()
        self.root.mkdir(parents=True)
        _give_to_postgres(self.root)
        await self._run_as_postgres(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
        )

    async def _run_as_postgres(self, *argv: str, timeout: float = 120) -> None:
        with (self.root.parent / "postgres.log").open("ab") as log:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                **_as_postgres(),
            )
            try:
                code = await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
                raise
        if code != 0:
            msg = f"{' '.join(argv[:2])} failed with exit code {code}; see {self.root.parent / 'postgres.log'}"
            raise HarnessError(msg)

    async def start(self, timeout: float = 60) -> None:
        """Start the server and wait until it accepts queries (crash recovery included after an immediate stop)."""
        self.service.start()
        deadline = time.monotonic() + timeout
        while True:
            if not self.service.running:
                msg = f"PostgreSQL exited at start (code {self.service.exit_code()}); see {self.service.log_path}"
                raise HarnessError(msg)
            try:
                conn = await asyncpg.connect(self.dsn, timeout=2)
            except (OSError, asyncpg.PostgresError, TimeoutError):
                if time.monotonic() > deadline:
                    msg = f"PostgreSQL did not accept connections within {timeout:.0f}s"
                    raise HarnessError(msg) from None
                await asyncio.sleep(0.1)
            else:
                await conn.close()
                return

    async def stop_immediate(self) -> None:
        """``pg_ctl stop -m immediate``: the server quits without a checkpoint, as in a crash."""
        await self._run_as_postgres(str(PG_BIN / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "immediate", "-w")
        if not await self.service.wait_exit(30):
            msg = "PostgreSQL did not exit after pg_ctl stop -m immediate"
            raise HarnessError(msg)

    def stop(self) -> None:
        """``pg_ctl stop -m fast`` (blocking), then make sure our process group is gone."""
        if not self.service.running:
            return
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(  # noqa: S603 - fixed arguments
                [str(PG_BIN / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "20"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL,
                timeout=30,
                check=False,
                start_new_session=True,
                **_as_postgres(),
            )
        self.service.stop()


class Temporal:
    """The Temporal dev server on a SQLite file that survives ``kill -9`` and restarts on the same port."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.address = f"127.0.0.1:{port}"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.service = Service(
            "temporal",
            TemporalDevServer(data_dir, port=port, headless=True).command(),
            data_dir.parent / "temporal.log",
        )

    async def start(self, timeout: float = 60) -> None:
        """Start the server, wait for its frontend and for our search attributes to be registered."""
        self.service.start()
        deadline = time.monotonic() + timeout
        await wait_for_port(self.port, timeout)
        while True:
            if not self.service.running:
                msg = f"the Temporal dev server exited (code {self.service.exit_code()}); see {self.service.log_path}"
                raise HarnessError(msg)
            try:
                client = await connect_client(self.address)
                listed = await client.operator_service.list_search_attributes(
                    ListSearchAttributesRequest(namespace="default")
                )
            except (RuntimeError, RPCError):
                listed = None
            if listed is not None and set(CLI_TYPES) <= set(listed.custom_attributes):
                return
            if time.monotonic() > deadline:
                msg = f"Temporal at {self.address} not ready (namespace, search attributes) within {timeout:.0f}s"
                raise HarnessError(msg)
            await asyncio.sleep(0.2)


def liftoff_binary() -> str:
    """The ``liftoff`` console script of this environment (``.venv/bin/liftoff``)."""
    candidate = Path(sysconfig.get_path("scripts")) / "liftoff"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("liftoff")
    if found is None:
        msg = "the liftoff console script is missing; run `uv sync` and start the harness with `uv run`"
        raise HarnessError(msg)
    return found


@dataclass(frozen=True)
class LiftoffEnv:
    """The environment that configures every liftoff process of the run (nothing else configures them)."""

    database_url: str
    temporal_address: str
    principals_file: Path
    api_port: int
    #: The run's approval secret: decisions go the verified way, as in production.
    approval_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    def env(self) -> dict[str, str]:
        """Our environment without any inherited ``LIFTOFF_*`` setting, plus the run's own.

        ``LIFTOFF_CI_RUN`` stays: it is how CI recognises what its test run started (``.ci/leftovers.py``).
        """
        base = {k: v for k, v in os.environ.items() if not k.startswith("LIFTOFF_") or k == "LIFTOFF_CI_RUN"}
        return base | {
            "LIFTOFF_APPROVAL_SECRET": self.approval_secret,
            "LIFTOFF_DATABASE_URL": self.database_url,
            "LIFTOFF_TEMPORAL_ADDRESS": self.temporal_address,
            "LIFTOFF_PRINCIPALS_FILE": str(self.principals_file),
            "LIFTOFF_API_PORT": str(self.api_port),
            "LIFTOFF_LOG_FORMAT": "json",
        }


async def migrate(settings: LiftoffEnv, log_path: Path, timeout: float = 120) -> None:
    """``liftoff migrate`` against the run's database."""
    with log_path.open("ab") as log:
        proc = await asyncio.create_subprocess_exec(
            liftoff_binary(),
            "migrate",
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=settings.env(),
            start_new_session=True,
        )
        try:
            code = await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            raise
    if code != 0:
        msg = f"liftoff migrate failed with exit code {code}; see {log_path}"
        raise HarnessError(msg)


def liftoff_service(command: str, settings: LiftoffEnv, log_path: Path) -> Service:
    """``liftoff worker`` or ``liftoff api`` as a service of the run."""
    return Service(command, [liftoff_binary(), command], log_path, env=settings.env())


async def wait_ready(http: httpx.AsyncClient, timeout: float, service: Service | None = None) -> None:
    """Wait until ``/readyz`` answers 200 (PostgreSQL and Temporal reachable, a worker polling)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        if service is not None and not service.running:
            msg = f"{service.name} exited (code {service.exit_code()}) before it was ready; see {service.log_path}"
            raise HarnessError(msg)
        try:
            response = await http.get("/readyz", timeout=5)
        except httpx.TransportError as err:
            last = f"{type(err).__name__}: {err}"
        else:
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:300]}"
        if time.monotonic() > deadline:
            msg = f"/readyz not 200 within {timeout:.0f}s (last: {last})"
            raise HarnessError(msg)
        await asyncio.sleep(0.2)


class Topology:
    """The production topology from real parts, as separate processes: PostgreSQL, Temporal, worker, API."""

    def __init__(self, run_dir: Path, log: Callable[[str], None]) -> None:
        from worker.demo import ensure_demo_principals

        self.run_dir = run_dir
        self.log = log
        self.postgres = Postgres(run_dir / "pg", free_port())
        self.temporal = Temporal(run_dir / "temporal", free_port())
        self.api_port = free_port()
        principals, self.tokens = ensure_demo_principals(run_dir / "principals")
        self.settings = LiftoffEnv(
            database_url=self.postgres.dsn,
            temporal_address=self.temporal.address,
            principals_file=principals,
            api_port=self.api_port,
        )
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.worker = liftoff_service("worker", self.settings, run_dir / "worker.log")
        self.api = liftoff_service("api", self.settings, run_dir / "api.log")

    @property
    def services(self) -> tuple[Service, ...]:
        """Every long-running process, in the order they are stopped (clients before servers)."""
        return (self.api, self.worker, self.temporal.service, self.postgres.service)

    async def start(self, http: httpx.AsyncClient) -> None:
        """PostgreSQL, Temporal, migrations, worker, API; returns once ``/readyz`` answers 200."""
        started = time.monotonic()
        await self.postgres.init()
        await self.postgres.start()
        self.log(f"postgres ready on 127.0.0.1:{self.postgres.port} (data {self.postgres.data_dir})")
        await self.temporal.start()
        self.log(f"temporal ready on {self.temporal.address} (file {self.temporal.data_dir / 'temporal.db'})")
        await migrate(self.settings, self.run_dir / "migrate.log")
        self.worker.start()
        self.api.start()
        await wait_ready(http, 90, self.api)
        self.log(f"api ready on {self.api_url}; topology up in {time.monotonic() - started:.1f}s")

    def dead(self) -> list[Service]:
        """Services that should run but have exited."""
        return [s for s in self.services if s.starts and not s.running]

    def stop_all(self) -> None:
        """Stop everything this topology started (blocking; safe to call more than once)."""
        for service in (self.api, self.worker, self.temporal.service):
            service.stop()
        self.postgres.stop()
