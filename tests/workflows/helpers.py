"""Driving an initiative workflow directly through the Temporal client (as the Web UI does)."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateStage
from temporalio.worker import Worker

from schemas.contract import INITIATIVE_WORKFLOW, workflow_id_for
from schemas.initiative import StartInitiativeInput
from schemas.status import InitiativeStatusView
from worker.wiring import build_workflow_worker


async def start(client: Client, task_queue: str, inp: StartInitiativeInput) -> WorkflowHandle[Any, Any]:
    """Start an initiative workflow on ``task_queue``."""
    return await client.start_workflow(
        INITIATIVE_WORKFLOW,
        inp,
        id=workflow_id_for(inp.initiative_id),
        task_queue=task_queue,
        result_type=InitiativeStatusView,
    )


async def update(
    handle: WorkflowHandle[Any, Any], name: str, payload: BaseModel | dict[str, Any]
) -> InitiativeStatusView:
    """Send an update and return the status it answers with."""
    result: InitiativeStatusView = await handle.execute_update(name, payload, result_type=InitiativeStatusView)
    return result


async def status(handle: WorkflowHandle[Any, Any]) -> InitiativeStatusView:
    """Query the status."""
    result: InitiativeStatusView = await handle.query("status", result_type=InitiativeStatusView)
    return result


async def accepted_update_count(handle: WorkflowHandle[Any, Any]) -> int:
    """How many updates reached the workflow's history (refused ones never do)."""
    history = await handle.fetch_history()
    return sum(1 for e in history.events if e.HasField("workflow_execution_update_accepted_event_attributes"))


async def _completed_after_last_accept(handle: WorkflowHandle[Any, Any]) -> bool:
    """Whether the first activity the workflow scheduled after the last accepted update has completed.

    Not merely "some completion after the accept": an activity scheduled earlier (the initial flush) may
    complete after it, while the accepted decision's own activity is still to come.
    """
    events = list((await handle.fetch_history()).events)
    accepted = max(i for i, e in enumerate(events) if e.HasField("workflow_execution_update_accepted_event_attributes"))
    scheduled = next(
        (e.event_id for e in events[accepted:] if e.HasField("activity_task_scheduled_event_attributes")), None
    )
    return scheduled is not None and any(
        e.activity_task_completed_event_attributes.scheduled_event_id == scheduled
        for e in events[accepted:]
        if e.HasField("activity_task_completed_event_attributes")
    )


async def _idle(handle: WorkflowHandle[Any, Any]) -> bool:
    """Whether every activity the workflow scheduled has completed (its first flush, say)."""
    events = list((await handle.fetch_history()).events)
    scheduled = sum(1 for e in events if e.HasField("activity_task_scheduled_event_attributes"))
    completed = sum(1 for e in events if e.HasField("activity_task_completed_event_attributes"))
    return scheduled > 0 and completed == scheduled


async def update_with_completion_in_one_task(
    client: Client,
    activity_worker: Worker,
    task_queue: str,
    handle: WorkflowHandle[Any, Any],
    first: tuple[str, BaseModel],
    then: tuple[str, BaseModel],
) -> InitiativeStatusView:
    """Send ``first``, then deliver the activity completion it causes and ``then`` in one workflow task.

    The workflow worker is away (``activity_worker`` keeps running activities) while ``first``'s
    ``record_events`` completes and ``then`` arrives, so the next workflow worker gets both at once.
    """
    del activity_worker  # it must be running; taken as a parameter to make that explicit
    async with build_workflow_worker(client, task_queue=task_queue):
        async with asyncio.timeout(30):
            while not await _idle(handle):  # noqa: ASYNC110 - polling the server's history
                await asyncio.sleep(0.05)
        await handle.start_update(first[0], first[1], wait_for_stage=WorkflowUpdateStage.ACCEPTED)
    async with asyncio.timeout(30):
        while not await _completed_after_last_accept(handle):  # noqa: ASYNC110 - polling the server's history
            await asyncio.sleep(0.05)
    pending = asyncio.create_task(handle.execute_update(then[0], then[1], result_type=InitiativeStatusView))
    await asyncio.sleep(0.5)  # admitted: it waits for the same workflow task as the completion
    async with build_workflow_worker(client, task_queue=task_queue):
        result: InitiativeStatusView = await asyncio.wait_for(pending, 60)
    return result
