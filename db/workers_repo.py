"""Worker heartbeats: which worker processes are alive, per task queue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from db.pool import Conn
from db.queries import sql


@dataclass(frozen=True)
class Liveness:
    """Workers seen recently on a task queue, and how long ago the last one was seen (None: never)."""

    live: int
    seconds_since_last: float | None


async def beat(conn: Conn, *, worker_id: str, task_queue: str, hostname: str, pid: int, started_at: datetime) -> None:
    """Record that ``worker_id`` is alive now."""
    await conn.execute(sql("worker_heartbeat"), worker_id, task_queue, hostname, pid, started_at)


async def gone(conn: Conn, worker_id: str) -> None:
    """Forget ``worker_id`` (it stopped cleanly), and rows of workers not seen for a day."""
    await conn.execute(sql("worker_gone"), worker_id)


async def liveness(conn: Conn, task_queue: str, within_seconds: float) -> Liveness:
    """How many workers of ``task_queue`` beat within ``within_seconds``."""
    row = await conn.fetchrow(sql("worker_last_seen"), task_queue, within_seconds)
    assert row is not None
    since = row["seconds_since"]
    return Liveness(live=int(row["live"]), seconds_since_last=float(since) if since is not None else None)


async def seen_on_host(conn: Conn, hostname: str, task_queue: str, within_seconds: float) -> bool:
    """Whether a worker of ``task_queue`` on ``hostname`` beat within ``within_seconds``."""
    return bool(await conn.fetchval(sql("worker_seen_on_host"), hostname, task_queue, within_seconds))
