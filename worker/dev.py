"""``liftoff dev``: Temporal with its Web UI, PostgreSQL, migrations, worker and API in one process tree."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import structlog
from pydantic import SecretStr
from temporalio.client import Client, Interceptor
from temporalio.runtime import Runtime
from temporalio.service import RPCError
from temporalio.worker import Worker

from db.migrate import migrate
from db.pool import connect, create_pool
from worker.adapters import build_integrations
from worker.demo import ensure_demo_principals
from worker.embedded import EmbeddedPostgres, TemporalDevServer
from worker.heartbeat import heartbeat
from worker.services import QuietSignalServer, build_api_server
from worker.settings import Settings
from worker.tamper import tamper_watch
from worker.telemetry import process_runtime
from worker.temporal_client import connect_client
from worker.tracing import temporal_tracing, tracer_provider_from_env
from worker.wiring import WorkerTuning, build_worker

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class DevOptions:
    """Flags of ``liftoff dev``."""

    data_dir: Path
    api_port: int = 8000
    temporal_port: int = 7233
    ui_port: int = 8233
    #: Generate an approval secret for the session when none is configured.
    verified: bool = False


def install_stop_handlers(stop: asyncio.Event) -> None:
    """Ctrl-C and SIGTERM set ``stop`` (a second Ctrl-C still interrupts hard)."""
    loop = asyncio.get_running_loop()

    def _on_signal(sig: signal.Signals) -> None:
        if stop.is_set():
            loop.remove_signal_handler(sig)
            return
        log.info("stopping", signal=sig.name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, _on_signal, sig)


async def connect_with_retry(
    address: str,
    namespace: str,
    timeout: float = 30,
    api_key: str | None = None,
    runtime: Runtime | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> Client:
    """Connect to Temporal, retrying while a freshly started server finishes booting."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return await connect_client(address, namespace, api_key, runtime, interceptors)
        except (RPCError, RuntimeError, OSError):
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.1)


async def apply_migrations(dsn: str) -> list[str]:
    """Run pending migrations on ``dsn``."""
    conn = await connect(dsn)
    try:
        return await migrate(conn)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def embedded_services(settings: Settings, opts: DevOptions) -> AsyncIterator[tuple[str, str]]:
    """Start whatever is not configured (PostgreSQL, Temporal) and stop it on exit; yields (dsn, address)."""
    postgres = None if settings.database_url else EmbeddedPostgres(opts.data_dir / "postgres")
    temporal = (
        None
        if settings.temporal_address
        else TemporalDevServer(opts.data_dir / "temporal", port=opts.temporal_port, ui_port=opts.ui_port)
    )
    try:
        pending: list[asyncio.Future[object]] = []
        if postgres is not None:
            pending.append(asyncio.ensure_future(asyncio.to_thread(postgres.start)))
        if temporal is not None:
            pending.append(asyncio.ensure_future(temporal.start()))
        await asyncio.gather(*pending)
        dsn = postgres.uri if postgres is not None else settings.database_dsn()
        address = temporal.address if temporal is not None else settings.require_temporal_address()
        yield dsn, address
    finally:
        if temporal is not None:
            temporal.stop()
        if postgres is not None:
            postgres.stop()


def _banner(settings: Settings, opts: DevOptions, tokens: dict[str, str], seconds: float) -> str:
    api = f"http://{settings.api_host}:{settings.api_port}"
    lines = [
        "",
        f"liftoff is ready ({seconds:.1f}s)",
        f"  API docs     {api}/docs",
        f"  Temporal UI  {settings.ui_base_url}/namespaces/{settings.temporal_namespace}/workflows",
        f"  data dir     {opts.data_dir}",
        "  approvals    "
        + (
            "verified: decisions carry a token the API signs"
            if settings.approval_secret_bytes()
            else "UNVERIFIED: a decision names whoever its sender typed (start with --verified to sign them)"
        ),
    ]
    if tokens:
        lines.append("  demo bearer tokens (Authorization: Bearer <token>):")
        lines += [f"    {email:<22} {token}" for email, token in tokens.items()]
    lines += ["Press Ctrl-C to stop.", ""]
    return "\n".join(lines)


async def _serve(worker: Worker, server: QuietSignalServer, stop: asyncio.Event, *, banner: Callable[[], str]) -> int:
    """Run the worker and the API until ``stop`` is set or one of them fails; stop both; the exit code."""
    worker_task = asyncio.create_task(worker.run(), name="worker")
    api_task = asyncio.create_task(server.serve(), name="api")
    stop_task = asyncio.create_task(stop.wait())
    try:
        while not server.started and not api_task.done():  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
            await asyncio.sleep(0.02)
        if api_task.done():
            await api_task  # surfaces the reason the API could not start
            return 1
        print(banner(), flush=True)
        done, _ = await asyncio.wait({worker_task, api_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        for task in (worker_task, api_task):
            if task in done and task.exception() is not None:
                log.error("component failed", component=task.get_name(), error=str(task.exception()))
        return 0 if stop_task in done else 1
    finally:
        server.should_exit = True
        await asyncio.gather(api_task, return_exceptions=True)
        if not worker_task.done():
            await worker.shutdown()
        await asyncio.gather(worker_task, return_exceptions=True)
        stop_task.cancel()


async def run_dev(settings: Settings, opts: DevOptions) -> int:
    """Run everything until Ctrl-C; returns the exit code."""
    started = time.perf_counter()
    code = 1
    stop = asyncio.Event()
    install_stop_handlers(stop)
    opts.data_dir.mkdir(parents=True, exist_ok=True)
    tokens: dict[str, str] = {}
    principals_file = settings.principals_file
    if principals_file is None:
        principals_file, tokens = ensure_demo_principals(opts.data_dir)
    if not settings.temporal_address:
        settings = settings.model_copy(update={"ui_base_url": f"http://127.0.0.1:{opts.ui_port}"})
    if opts.verified and settings.approval_secret_bytes() is None:
        # A fresh secret per session: tokens minted before a restart are refused afterwards, as they should be.
        settings = settings.model_copy(update={"approval_secret": SecretStr(secrets.token_urlsafe(32))})
    settings = settings.model_copy(update={"api_port": opts.api_port})

    async with embedded_services(settings, opts) as (dsn, address):
        applied = await apply_migrations(dsn)
        if applied:
            log.info("migrations applied", migrations=applied)
        pool: asyncpg.Pool = await create_pool(dsn)
        tracing = tracer_provider_from_env("dev")
        try:
            client = await connect_with_retry(
                address,
                settings.temporal_namespace,
                api_key=settings.temporal_token(),
                runtime=process_runtime(settings.metrics_address),
                interceptors=temporal_tracing(tracing),
            )
            integrations = build_integrations(settings, pool)
            worker = build_worker(
                client,
                pool,
                task_queue=settings.task_queue,
                approval_secret=settings.approval_secret_bytes(),
                integrations=integrations,
                canary_url=settings.canary_url,
                tuning=WorkerTuning.from_settings(settings),
            )
            server = build_api_server(settings, client, pool, principals_file, tracing)
            async with heartbeat(pool, settings.task_queue), tamper_watch(client, pool):
                code = await _serve(
                    worker, server, stop, banner=lambda: _banner(settings, opts, tokens, time.perf_counter() - started)
                )
            await integrations.aclose()
        finally:
            await pool.close()
            if tracing is not None:
                tracing.shutdown()
    print("liftoff stopped.", file=sys.stderr, flush=True)
    return code
