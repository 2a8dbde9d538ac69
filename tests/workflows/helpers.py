"""Driving an initiative workflow directly through the Temporal client (as the Web UI does)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from temporalio.client import Client, WorkflowHandle

from schemas.contract import INITIATIVE_WORKFLOW, workflow_id_for
from schemas.initiative import StartInitiativeInput
from schemas.status import InitiativeStatusView


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
