"""``liftoff healthcheck api|worker``: the container healthchecks of docker-compose.yml and Kubernetes probes.

``api``: the local API's ``/readyz`` answers 200 (PostgreSQL and Temporal reachable, a live worker).
``worker``: a worker on this host has written its heartbeat within the last 15 s, which it does only
while its process runs and reaches PostgreSQL. Exit code 0 when healthy, 1 otherwise, with one line saying why.
"""

from __future__ import annotations

import socket

import httpx

from db import workers_repo
from db.pool import UNAVAILABLE, connect
from worker.heartbeat import LIVE_WITHIN_SECONDS
from worker.settings import Settings


async def check(target: str, settings: Settings) -> int:
    """Check ``target`` (``api`` or ``worker``) on this host; prints the verdict."""
    if target == "api":
        host = "127.0.0.1" if settings.api_host in {"0.0.0.0", "::"} else settings.api_host  # noqa: S104 - a comparison
        try:
            async with httpx.AsyncClient(timeout=5) as http:
                answer = await http.get(f"http://{host}:{settings.api_port}/readyz")
        except httpx.HTTPError as err:
            print(f"unhealthy: the API does not answer ({type(err).__name__})")
            return 1
        print(("healthy: " if answer.status_code == 200 else "unhealthy: ") + answer.text[:500])
        return 0 if answer.status_code == 200 else 1
    hostname = socket.gethostname()
    try:
        conn = await connect(settings.database_dsn())
    except UNAVAILABLE as err:
        print(f"unhealthy: the database cannot be reached ({type(err).__name__})")
        return 1
    try:
        seen = await workers_repo.seen_on_host(conn, hostname, settings.task_queue, LIVE_WITHIN_SECONDS)
    finally:
        await conn.close()
    if seen:
        print(f"healthy: a worker on {hostname} beat within {LIVE_WITHIN_SECONDS:.0f} s")
        return 0
    print(f"unhealthy: no heartbeat from a worker on {hostname} within {LIVE_WITHIN_SECONDS:.0f} s")
    return 1
