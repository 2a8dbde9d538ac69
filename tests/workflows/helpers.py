"""Driving an initiative workflow directly through the Temporal client (as the Web UI does)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import asyncpg
from pydantic import BaseModel
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateStage
from temporalio.worker import Worker

from schemas.approval_token import payload_digest, sign_token
from schemas.contract import INITIATIVE_WORKFLOW, workflow_id_for
from schemas.initiative import StartInitiativeInput
from schemas.start_signature import sign_start
from schemas.status import InitiativeStatusView
from worker.wiring import build_workflow_worker


async def start(
    client: Client, task_queue: str, inp: StartInitiativeInput, *, secret: bytes | None = None
) -> WorkflowHandle[Any, Any]:
    """Start an initiative workflow on ``task_queue`` (with ``secret``: signed, as the API starts it)."""
    workflow_id = workflow_id_for(inp.initiative_id)
    if secret is not None:
        payload = inp.model_dump(mode="json")
        inp = inp.model_copy(
            update={"signature": sign_start(secret, workflow_id=workflow_id, payload=payload, now=datetime.now(UTC))}
        )
    return await client.start_workflow(
        INITIATIVE_WORKFLOW,
        inp,
        id=workflow_id,
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
    pool: asyncpg.Pool,
    activity_worker: Worker,
    task_queue: str,
    handle: WorkflowHandle[Any, Any],
    first: tuple[str, BaseModel],
    then: tuple[str, BaseModel],
) -> InitiativeStatusView:
    """Send ``first``, then deliver the activity completion it causes and ``then`` in one workflow task.

    The workflow worker is away (``activity_worker`` keeps running activities) while the activity ``first``
    scheduled completes and ``then`` arrives, so the next workflow worker gets both at once.
    """
    del activity_worker  # it must be running; taken as a parameter to make that explicit
    async with build_workflow_worker(client, pool, task_queue=task_queue):
        async with asyncio.timeout(30):
            while not await _idle(handle):  # noqa: ASYNC110 - polling the server's history
                await asyncio.sleep(0.05)
        await handle.start_update(first[0], first[1], wait_for_stage=WorkflowUpdateStage.ACCEPTED)
    async with asyncio.timeout(30):
        while not await _completed_after_last_accept(handle):  # noqa: ASYNC110 - polling the server's history
            await asyncio.sleep(0.05)
    pending = asyncio.create_task(handle.execute_update(then[0], then[1], result_type=InitiativeStatusView))
    await asyncio.sleep(0.5)  # admitted: it waits for the same workflow task as the completion
    async with build_workflow_worker(client, pool, task_queue=task_queue):
        result: InitiativeStatusView = await asyncio.wait_for(pending, 60)
    return result


PayloadT = TypeVar("PayloadT", bound=BaseModel)


def sign_payload(
    initiative_id: str,
    payload: PayloadT,
    *,
    person: str | None = None,
    role: str | None = None,
    stage: str = "proposed",
    action: str = "approve",
    secret: bytes = b"test-approval-secret",
    expires: datetime | None = None,
    nonce: str | None = None,
    digest_of: BaseModel | None = None,
) -> PayloadT:
    """``payload`` with an approval token signed for it (or, with ``digest_of``, for another payload)."""
    body = payload.model_dump(mode="json")
    token = sign_token(
        secret,
        initiative_id=initiative_id,
        stage=stage,
        action=action,
        role=role if role is not None else str(body.get("role") or ""),
        person=person or str(body.get("approver") or body.get("actor")),
        expires_at=expires or datetime.now(UTC) + timedelta(minutes=10),
        digest=payload_digest((digest_of or payload).model_dump(mode="json")),
        nonce=nonce or uuid.uuid4().hex,
    )
    return payload.model_copy(update={"token": token})
