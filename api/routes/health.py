"""Liveness and readiness."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from api.context import ApiContext, Ctx
from db import workers_repo
from db.pool import ping

router = APIRouter(tags=["health"])


class Readiness(BaseModel):
    """What ``/readyz`` answers, ready (200) or not (503)."""

    ready: bool
    #: ``postgres``, ``temporal``, ``worker``: ``ok`` or why not
    checks: dict[str, str]
    #: per notification channel, when channels are configured; never a reason to be unready
    notifications: dict[str, Any] | None = None


@router.get("/healthz", summary="The API process is alive")
async def healthz() -> dict[str, str]:
    """Always ``ok`` while the process serves requests."""
    return {"status": "ok"}


async def _check_postgres(ctx: ApiContext) -> str:
    try:
        await asyncio.wait_for(ping(ctx.pool), timeout=5)
    except Exception as err:  # noqa: BLE001 - any failure means "not ready"; the reason is reported
        return f"unreachable: {err}"
    return "ok"


async def _check_temporal(ctx: ApiContext) -> str:
    try:
        response = await asyncio.wait_for(
            ctx.client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=ctx.namespace,
                    task_queue=TaskQueue(name=ctx.task_queue),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                )
            ),
            timeout=5,
        )
    except Exception as err:  # noqa: BLE001 - any failure means "not ready"; the reason is reported
        return f"unreachable: {err}"
    del response
    return "ok"


async def _check_worker(ctx: ApiContext) -> str:
    try:
        async with asyncio.timeout(5), ctx.pool.acquire() as conn:
            seen = await workers_repo.liveness(conn, ctx.task_queue, ctx.worker_live_within)
    except Exception as err:  # noqa: BLE001 - any failure means "not ready"; the reason is reported
        return f"unknown: {type(err).__name__}"
    if seen.live:
        return "ok"
    if seen.seconds_since_last is None:
        return f"no worker has run on task queue {ctx.task_queue}"
    return f"no live worker on task queue {ctx.task_queue} (last heartbeat {seen.seconds_since_last:.0f} s ago)"


@router.get(
    "/readyz",
    summary="PostgreSQL and Temporal reachable, a live worker",
    responses={
        200: {"model": Readiness, "description": "Every dependency is ready"},
        503: {"model": Readiness, "description": "A dependency is not ready: the failing checks say which"},
    },
)
async def readyz(ctx: Ctx) -> JSONResponse:
    """200 when every dependency is ready, 503 with the failing checks otherwise.

    With notification channels configured, ``notifications`` reports each one (deliveries waiting, failed,
    of unknown outcome over the last day; the last success and the last error) without affecting readiness.

    A worker counts as live when its heartbeat (every 5 s) is recent: a killed worker is noticed within
    15 s, while Temporal's poller list would remember it for minutes.
    """
    postgres, temporal = await asyncio.gather(_check_postgres(ctx), _check_temporal(ctx))
    worker = await _check_worker(ctx) if postgres == "ok" else "unknown: the database is unreachable"
    checks = {"postgres": postgres, "temporal": temporal, "worker": worker}
    ready = all(v == "ok" for v in checks.values())
    body: dict[str, object] = {"ready": ready, "checks": checks}
    if ctx.notifications is not None and postgres == "ok":
        # Reported, never a reason to be unready: a failing channel must not take decisions down with it.
        try:
            async with asyncio.timeout(5):
                body["notifications"] = await ctx.notifications.health()
        except Exception as err:  # noqa: BLE001 - a report that cannot be read says so
            body["notifications"] = {"unknown": type(err).__name__}
    return JSONResponse(body, status_code=200 if ready else 503)
