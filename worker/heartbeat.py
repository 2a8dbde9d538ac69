"""A worker's heartbeat in PostgreSQL, so that readiness notices a dead worker within seconds."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import structlog

from db import workers_repo
from db.pool import UNAVAILABLE

log = structlog.get_logger(__name__)

#: How often a worker says it is alive; readiness wants a beat within three of these.
INTERVAL_SECONDS = 5.0
#: A worker not seen for this long counts as dead.
LIVE_WITHIN_SECONDS = 3 * INTERVAL_SECONDS


async def _beat_forever(pool: asyncpg.Pool, worker_id: str, task_queue: str, interval: float) -> None:
    started = datetime.now(UTC)
    hostname, pid = socket.gethostname(), os.getpid()
    failing = False
    while True:
        try:
            async with pool.acquire() as conn:
                await workers_repo.beat(
                    conn, worker_id=worker_id, task_queue=task_queue, hostname=hostname, pid=pid, started_at=started
                )
            if failing:
                log.info("worker heartbeat recorded again", worker_id=worker_id)
            failing = False
        except UNAVAILABLE as err:
            if not failing:  # once per outage, not every few seconds
                log.warning("worker heartbeat not recorded: database unavailable", error=type(err).__name__)
            failing = True
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def heartbeat(pool: asyncpg.Pool, task_queue: str, *, interval: float = INTERVAL_SECONDS) -> AsyncIterator[str]:
    """Beat while the block runs; yields the worker id. A clean exit removes the worker's row."""
    worker_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    task = asyncio.create_task(_beat_forever(pool, worker_id, task_queue, interval), name="worker-heartbeat")
    try:
        yield worker_id
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        try:
            async with pool.acquire() as conn:
                await workers_repo.gone(conn, worker_id)
        except UNAVAILABLE:
            log.warning("could not remove the worker's heartbeat; it expires by itself", worker_id=worker_id)
