"""Liveness and readiness."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from api.context import ApiContext, Ctx

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The API process is alive")
async def healthz() -> dict[str, str]:
    """Always ``ok`` while the process serves requests."""
    return {"status": "ok"}


async def _check_postgres(ctx: ApiContext) -> str:
    try:
        await asyncio.wait_for(ctx.pool.fetchval("SELECT 1"), timeout=5)
    except Exception as err:  # noqa: BLE001 - any failure means "not ready"; the reason is reported
        return f"unreachable: {err}"
    return "ok"


async def _check_worker(ctx: ApiContext) -> str:
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
    if not response.pollers:
        return f"no worker polling task queue {ctx.task_queue}"
    return "ok"


@router.get("/readyz", summary="PostgreSQL and Temporal reachable, a worker polling")
async def readyz(ctx: Ctx) -> JSONResponse:
    """200 when every dependency is ready, 503 with the failing checks otherwise."""
    checks = {"postgres": await _check_postgres(ctx), "temporal_worker": await _check_worker(ctx)}
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)
