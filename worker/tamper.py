"""Noticing initiatives whose workflow was terminated, cancelled or reset outside liftoff.

Approvers hold write access to the namespace (they act in the Web UI), and Temporal has no per-workflow
permissions: anyone of them can terminate, cancel or reset an initiative's workflow. liftoff never does
(it scraps), so each such run is recorded as a ``tampered`` event naming who did it and how, and counted
by the funnel report. A terminated run cannot tell anyone itself, so every worker sweeps the runs
closed that way recently (a reset terminates the run it rewinds); recording is idempotent per run.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import structlog
from temporalio.api.common.v1 import WorkflowExecution as ExecutionRef
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryReverseRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from db import events_repo
from db.pool import UNAVAILABLE
from db.storable import storable_text
from schemas.contract import INITIATIVE_WORKFLOW

log = structlog.get_logger(__name__)

#: How often a worker sweeps, and how far back it looks (a sweep missed by an outage is caught later).
EVERY_SECONDS = 60.0
_SKIPPABLE: tuple[type[Exception], ...] = (RPCError, *UNAVAILABLE)
LOOKBACK = timedelta(days=1)


@dataclass(frozen=True)
class Tampering:
    """One run ended or rewound outside liftoff."""

    initiative_id: str
    workflow_id: str
    run_id: str
    how: str  # terminated | cancelled | reset
    by: str
    reason: str
    at: datetime


async def _who_and_why(client: Client, workflow_id: str, run_id: str) -> tuple[str, str]:
    """The identity and reason the run's closing event records (the terminate or the cancel request)."""
    response = await client.workflow_service.get_workflow_execution_history_reverse(
        GetWorkflowExecutionHistoryReverseRequest(
            namespace=client.namespace,
            execution=ExecutionRef(workflow_id=workflow_id, run_id=run_id),
            maximum_page_size=20,
        )
    )
    for event in response.history.events:
        if event.HasField("workflow_execution_terminated_event_attributes"):
            attrs = event.workflow_execution_terminated_event_attributes
            return attrs.identity, attrs.reason
        if event.HasField("workflow_execution_cancel_requested_event_attributes"):
            requested = event.workflow_execution_cancel_requested_event_attributes
            return requested.identity, requested.cause
    return "", ""


async def find(client: Client, pool: asyncpg.Pool, *, lookback: timedelta = LOOKBACK) -> list[Tampering]:
    """Initiative runs terminated, cancelled or reset outside liftoff that closed within ``lookback``."""
    since = (datetime.now(UTC) - lookback).strftime("%Y-%m-%dT%H:%M:%SZ")
    query = (
        f"WorkflowType='{INITIATIVE_WORKFLOW}' AND (ExecutionStatus='Terminated' OR ExecutionStatus='Canceled') "
        f"AND CloseTime > '{since}'"
    )
    runs = [run async for run in client.list_workflows(query)]
    if not runs:
        return []
    known = {
        r["workflow_id"]: r["id"]
        for r in await pool.fetch(
            "SELECT id, workflow_id FROM initiatives WHERE workflow_id = ANY($1::text[])", [r.id for r in runs]
        )
    }
    found: list[Tampering] = []
    for run in runs:
        initiative_id = known.get(run.id)
        if initiative_id is None:
            continue  # never an initiative (a start refused as unverified, say)
        how = "cancelled" if run.status == WorkflowExecutionStatus.CANCELED else "terminated"
        if how == "terminated":
            # A reset terminates the run it rewinds and names the new run on it.
            closed = await client.get_workflow_handle(run.id, run_id=run.run_id).describe()
            if closed.raw_description.workflow_extended_info.reset_run_id:
                how = "reset"
        by, reason = await _who_and_why(client, run.id, run.run_id)
        found.append(
            Tampering(
                initiative_id=initiative_id,
                workflow_id=run.id,
                run_id=run.run_id,
                how=how,
                by=storable_text(by)[:200] or "unknown",
                reason=storable_text(reason)[:500],
                at=run.close_time or datetime.now(UTC),
            )
        )
    return found


async def sweep(client: Client, pool: asyncpg.Pool, *, lookback: timedelta = LOOKBACK) -> list[Tampering]:
    """Record every tampering found; returns those recorded now (not before)."""
    recorded: list[Tampering] = []
    for tampering in await find(client, pool, lookback=lookback):
        async with pool.acquire() as conn:
            new = await events_repo.record_tampered(
                conn,
                event_id=f"tampered/{tampering.workflow_id}/{tampering.run_id}",
                initiative_id=tampering.initiative_id,
                how=tampering.how,
                noticed_by=tampering.by,
                detail=f"workflow {tampering.how} outside liftoff by {tampering.by}"
                + (f": {tampering.reason}" if tampering.reason else ""),
                at=tampering.at,
            )
        if new:
            recorded.append(tampering)
            log.warning(
                "initiative tampered with",
                initiative_id=tampering.initiative_id,
                how=tampering.how,
                by=tampering.by,
                reason=tampering.reason,
            )
    return recorded


@contextlib.asynccontextmanager
async def tamper_watch(client: Client, pool: asyncpg.Pool, *, every: float = EVERY_SECONDS) -> AsyncIterator[None]:
    """Sweep every ``every`` seconds while the block runs."""

    async def loop() -> None:
        while True:
            try:
                await sweep(client, pool)
            except _SKIPPABLE as err:
                log.warning("tamper sweep skipped", error=type(err).__name__)
            await asyncio.sleep(every)

    task = asyncio.create_task(loop(), name="tamper-watch")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
