"""Imports of existing initiatives: checking a JSON Lines file, and starting its workflows behind live work.

``check_lines`` reads the file line by line (bounded in size and count) and says, per line, what is wrong or
which initiative it is. ``ImportRunner`` starts the valid lines' workflows from PostgreSQL at a bounded
rate, at Temporal's lowest task priority (``IMPORT_PRIORITY``): a person's decision (default priority) is
dispatched ahead of any import work waiting in the task queue, and the import never floods the worker.
Starting is idempotent: an initiative's id comes from its line's external references or content and its
workflow id is started once (``REJECT_DUPLICATE``), so a file imported twice creates nothing new.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import structlog
from google.protobuf.field_mask_pb2 import FieldMask
from pydantic import ValidationError
from temporalio.api.common.v1 import Priority as PriorityMessage
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflow.v1 import WorkflowExecutionOptions
from temporalio.api.workflowservice.v1 import UpdateWorkflowExecutionOptionsRequest
from temporalio.common import Priority, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.import_pace import Pace
from api.starts import new_start
from db import imports_repo
from db.imports_repo import ClaimedLine, LineRecord
from schemas.classification import RiskTier
from schemas.contract import INITIATIVE_WORKFLOW, workflow_id_for
from schemas.imports import MAX_LINE_BYTES, MAX_LINES, ImportLine, imported_start, parse_line
from schemas.initiative import InitiativeSpec, StartInitiativeInput
from workflows import search_attributes as sa

if TYPE_CHECKING:  # the context holds the runner
    from api.context import ApiContext

log = structlog.get_logger(__name__)

#: Temporal's lowest priority (1 highest … 5 lowest; unset = 3): imported initiatives' tasks wait behind
#: everyone else's while the import runs; once it has finished they get the default back.
IMPORT_PRIORITY = Priority(priority_key=5)
#: What an imported initiative gets once its import has finished: what any initiative runs at (unset = 3).
DEFAULT_PRIORITY = PriorityMessage(priority_key=3)
#: How many times a line is tried before it is reported failed (Temporal unavailable, timeouts).
MAX_ATTEMPTS = 5


def _problem(err: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'line'}: {e['msg']}" for e in err.errors())


async def lines_of(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[int, bytes]]:
    """The numbered lines of a streamed body (1-based; blank lines skipped); ValueError past the limits."""
    pending = b""
    number = 0
    async for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        if len(pending) > MAX_LINE_BYTES:
            number += len(complete) + 1
            msg = f"line {number} is longer than {MAX_LINE_BYTES} bytes"
            raise ValueError(msg)
        for raw in complete:
            number += 1
            if raw.strip():
                yield number, raw
    if pending.strip():
        yield number + 1, pending


async def check_lines(chunks: AsyncIterator[bytes], *, importer: str, now: datetime) -> list[LineRecord]:
    """Each line checked: its record (initiative id and body, or the error)."""
    records: list[LineRecord] = []
    seen: dict[str, int] = {}
    async for number, raw in lines_of(chunks):
        if number % 100 == 0:  # a large file is checked between other requests, not instead of them
            await asyncio.sleep(0)
        if len(records) >= MAX_LINES:
            msg = f"more than {MAX_LINES} lines: split the file"
            raise ValueError(msg)
        try:
            line = ImportLine.model_validate(parse_line(raw))
        except ValueError as err:  # ValidationError is a ValueError
            records.append(
                LineRecord(line=number, error=_problem(err) if isinstance(err, ValidationError) else str(err))
            )
            continue
        error: str | None = line.problem_at(now)
        if error is None and line.risk_tier is RiskTier.UNACCEPTABLE:
            error = "risk_tier: 'unacceptable' is a prohibited use and cannot be imported (REG_PROHIBITED)"
        initiative_id = line.initiative_id()
        if error is None and initiative_id in seen:
            error = f"the same initiative as line {seen[initiative_id]} (same external_refs or content)"
        if error is not None:
            records.append(LineRecord(line=number, error=error))
            continue
        seen[initiative_id] = number
        body = line.model_dump(mode="json")
        body["submitter"] = line.submitter or importer
        records.append(LineRecord(line=number, initiative_id=initiative_id, body=body))
    return records


def start_input(ctx: ApiContext, claimed: ClaimedLine, import_id: str, importer: str) -> StartInitiativeInput:
    """The workflow start of a checked line, as the API starts any initiative (``api/starts.py``)."""
    line = ImportLine.model_validate(claimed.body)
    return new_start(
        ctx,
        initiative_id=claimed.initiative_id,
        spec=InitiativeSpec.model_validate(line.submission().model_dump()),
        submitter=line.submitter or importer,
        submitted_at=line.submitted_at,
        imported=imported_start(line, imported_by=importer, import_id=import_id, number=claimed.line),
    )


@dataclass
class ImportRunner:
    """Starts waiting import lines, at most ``rate`` per second and ``concurrency`` at a time, while there are any.

    Within that, the pace follows the engine (``api/import_pace.py``): an initiative counts as started once
    its first events are recorded, and the rate drops while that takes longer than ``target_lag``.

    ``kick`` starts a drain if none runs (after an import is stored, and at start-up for imports a stopped
    process left); the drain ends when nothing waits.
    """

    rate: float = 20.0
    concurrency: int = 4
    #: Imports slow down while the engine takes longer than this to record a start (``api/import_pace.py``).
    target_lag: float = 0.5
    #: A claim older than this belongs to a process that stopped: the line is taken up again.
    stale_after_seconds: float = 300.0
    #: How the last drain paced itself (for the log and the benchmark).
    pace: Pace | None = field(default=None, init=False, repr=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _importers: dict[str, str] = field(default_factory=dict, init=False, repr=False)

    def kick(self, ctx: ApiContext) -> None:
        """Drain the waiting lines in the background, unless a drain is already under way."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(ctx), name="liftoff-import-runner")

    async def run(self, ctx: ApiContext, stop: asyncio.Event, every: float = 30.0) -> None:
        """For a serving process until ``stop``: take up waiting lines now and every ``every`` s (a stopped peer's)."""
        try:
            while not stop.is_set():
                self.kick(ctx)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=every)
        finally:
            await self.stop()

    async def stop(self) -> None:
        """Stop draining (lines being started are claimed; another process takes them up later)."""
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def idle(self) -> None:
        """Wait until the current drain has finished (tests, the benchmark)."""
        task = self._task
        if task is not None:
            await asyncio.shield(task)

    async def _drain(self, ctx: ApiContext) -> None:
        pace = self.pace = Pace(ceiling=self.rate, target_lag=self.target_lag)
        limit = asyncio.Semaphore(self.concurrency)
        running: set[asyncio.Task[None]] = set()
        try:
            while True:
                claimed = await imports_repo.claim(ctx.pool, max(self.concurrency * 4, 16), self.stale_after_seconds)
                if not claimed:
                    break
                have = await imports_repo.existing(ctx.pool, [c.initiative_id for c in claimed])
                for line in claimed:
                    if line.initiative_id in have:  # imported before: nothing to start, nothing to pace
                        await imports_repo.settle(ctx.pool, line.import_id, line.line, "existed")
                        continue
                    await limit.acquire()
                    await asyncio.sleep(pace.delay())
                    task = asyncio.create_task(self._start_one(ctx, line, limit, pace))
                    running.add(task)
                    task.add_done_callback(running.discard)
                if running:
                    await asyncio.gather(*running)
                await imports_repo.finish(ctx.pool, sorted({c.import_id for c in claimed}))
                log.info("import pace", rate=round(pace.rate, 2))
            await self._restore_priorities(ctx)
        except Exception:
            log.exception("import runner stopped; waiting lines are taken up again later")
        finally:
            for task in running:
                task.cancel()

    @staticmethod
    async def _restore_priorities(ctx: ApiContext, batch: int = 100) -> None:
        """Once an import has finished, its initiatives get the default task priority back.

        The lowest priority keeps the import behind people's decisions while it runs; afterwards an imported
        initiative is an initiative like any other (a workflow's priority is changed through its options).
        """
        while rows := await imports_repo.unrestored(ctx.pool, batch):
            done: dict[str, list[int]] = {}
            for import_id, line, initiative_id in rows:
                request = UpdateWorkflowExecutionOptionsRequest(
                    namespace=ctx.client.namespace,
                    workflow_execution=WorkflowExecution(workflow_id=workflow_id_for(initiative_id)),
                    workflow_execution_options=WorkflowExecutionOptions(priority=DEFAULT_PRIORITY),
                    update_mask=FieldMask(paths=["priority"]),
                )
                try:
                    await ctx.client.workflow_service.update_workflow_execution_options(request)
                except RPCError as err:
                    if err.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                        raise  # Temporal is unavailable: the next drain tries again
                    # ended (an import in production) or gone: nothing left to run at any priority
                done.setdefault(import_id, []).append(line)
            for import_id, lines in done.items():
                await imports_repo.restored(ctx.pool, import_id, lines)
            log.info("import priorities restored", initiatives=len(rows))

    async def _importer(self, ctx: ApiContext, import_id: str) -> str:
        known = self._importers.get(import_id)
        if known is None:
            progress = await imports_repo.progress(ctx.pool, import_id)
            known = progress.created_by if progress is not None else "liftoff"
            self._importers[import_id] = known
        return known

    async def _start_one(self, ctx: ApiContext, claimed: ClaimedLine, limit: asyncio.Semaphore, pace: Pace) -> None:
        try:
            began = time.monotonic()
            outcome, error = await self._start(ctx, claimed)
            if outcome == "started":  # the slot is free once the engine has recorded it
                pace.observe(await self._recorded(ctx, claimed.initiative_id, began))
        finally:
            limit.release()
        await imports_repo.settle(ctx.pool, claimed.import_id, claimed.line, outcome, error)
        log.info(
            "import line",
            import_id=claimed.import_id,
            line=claimed.line,
            initiative_id=claimed.initiative_id,
            outcome=outcome,
            error=error,
        )

    @staticmethod
    async def _recorded(ctx: ApiContext, initiative_id: str, began: float, give_up: float = 60.0) -> float:
        """Seconds from ``began`` until the initiative's first events are in PostgreSQL (``give_up`` at most)."""
        while time.monotonic() - began < give_up:
            if await imports_repo.existing(ctx.pool, [initiative_id]):
                break
            await asyncio.sleep(0.05)
        return time.monotonic() - began

    async def _start(self, ctx: ApiContext, claimed: ClaimedLine) -> tuple[str, str | None]:
        """Start one line's workflow (the drain has checked it is not in liftoff yet; a race is ``existed``)."""
        importer = await self._importer(ctx, claimed.import_id)
        try:
            start = start_input(ctx, claimed, claimed.import_id, importer)
        except (ValidationError, ValueError) as err:  # checked when it arrived: only a changed policy gets here
            return "failed", str(err)
        spec = start.spec
        try:
            async with asyncio.timeout(ctx.temporal_timeout):
                await ctx.client.start_workflow(
                    INITIATIVE_WORKFLOW,
                    start,
                    id=workflow_id_for(claimed.initiative_id),
                    task_queue=ctx.task_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                    search_attributes=sa.for_start(start, datetime.fromisoformat(start.submitted_at_iso)),
                    static_summary=f"{spec.title} ({spec.team}, imported)",
                    priority=IMPORT_PRIORITY,
                )
        except WorkflowAlreadyStartedError:
            return "existed", None
        except (RPCError, TimeoutError) as err:
            if claimed.attempts >= MAX_ATTEMPTS:
                return "failed", f"Temporal did not start it after {claimed.attempts} attempts: {err}"
            await asyncio.sleep(min(2.0**claimed.attempts, 30.0))
            return "pending", str(err)
        return "started", None
