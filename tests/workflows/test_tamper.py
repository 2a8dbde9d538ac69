"""An initiative's workflow terminated, cancelled or reset outside liftoff is recorded and counted."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
from temporalio.api.common.v1 import WorkflowExecution as ExecutionRef
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client, WorkflowHandle

from db import reports_repo
from schemas.decisions import ApproveInput
from schemas.policy import Policy
from schemas.reports import ReportFilters
from schemas.stages import Role
from tests.conftest import make_start
from tests.workflows.helpers import start, update
from worker.tamper import sweep


async def _started(client: Client, task_queue: str, policy: Policy, team: str) -> WorkflowHandle[Any, Any]:
    handle = await start(client, task_queue, make_start(policy, team=team))
    await update(handle, "approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO))
    return handle


async def _tampered(pool: asyncpg.Pool, workflow_id: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT e.actor, e.detail, e.data->>'how' AS how FROM lifecycle_events e JOIN initiatives i"
        " ON i.id = e.initiative_id WHERE i.workflow_id = $1 AND e.kind = 'tampered'",
        workflow_id,
    )


async def test_termination_cancellation_and_reset_are_recorded_once(
    client: Client, task_queue: str, pool: asyncpg.Pool, policy: Policy
) -> None:
    team = f"tamper-{uuid.uuid4().hex[:8]}"
    terminated = await _started(client, task_queue, policy, team)
    cancelled = await _started(client, task_queue, policy, team)
    rewound = await _started(client, task_queue, policy, team)
    untouched = await _started(client, task_queue, policy, team)
    del untouched

    await terminated.terminate(reason="cleaning up")
    await cancelled.cancel()
    history = await rewound.fetch_history()
    first_task = next(
        e.event_id for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    )
    await client.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=ExecutionRef(workflow_id=rewound.id, run_id=history.run_id),
            reason="undo the approval",
            workflow_task_finish_event_id=first_task,
            request_id=str(uuid.uuid4()),
        )
    )
    for _ in range(100):  # visibility follows the close a moment later
        found = await sweep(client, pool)
        if {t.workflow_id for t in found} >= {terminated.id, cancelled.id, rewound.id}:
            break
        await asyncio.sleep(0.1)
    assert [row["how"] for row in await _tampered(pool, terminated.id)] == ["terminated"]
    assert "cleaning up" in (await _tampered(pool, terminated.id))[0]["detail"]
    assert [row["how"] for row in await _tampered(pool, cancelled.id)] == ["cancelled"]
    assert [row["how"] for row in await _tampered(pool, rewound.id)] == ["reset"]
    assert "undo the approval" in (await _tampered(pool, rewound.id))[0]["detail"]

    assert await sweep(client, pool) == []  # noticed once
    funnel = (await reports_repo.funnel(pool, ReportFilters(team=team))).model_dump(mode="json")
    assert funnel["total"] == 4
    assert funnel["tampered"] == 3
