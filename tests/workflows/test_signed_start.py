"""Hole 1: a workflow started outside liftoff (a forged or altered start input) refuses to run.

Before, anyone allowed to send updates could ``temporal workflow start`` an ``InitiativeWorkflow`` whose
policy quorum and roster were empty: it went to production without a single approval, and the funnel
counted it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError

from schemas.contract import INITIATIVE_WORKFLOW, workflow_id_for
from schemas.decisions import ApproveInput, SubmitPocResultsInput
from schemas.initiative import StartInitiativeInput
from schemas.policy import Policy
from schemas.stages import Role, Stage
from schemas.start_signature import sign_start
from schemas.status import InitiativeStatusView
from tests.conftest import SUBMITTER, make_start
from tests.workflows.conftest import SECRET
from tests.workflows.helpers import sign_payload as _sign
from tests.workflows.helpers import start, update
from worker.approval_interceptor import UNVERIFIED_START


def _empty_gates(policy: Policy) -> Policy:
    return policy.model_copy(update={"quorum": {}, "risk_quorum": {}})


async def _refused_start(handle: WorkflowHandle[Any, Any]) -> str:
    with pytest.raises(WorkflowFailureError) as info:
        await asyncio.wait_for(handle.result(), 30)
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == UNVERIFIED_START
    return cause.message


async def _nothing_recorded(pool: asyncpg.Pool, initiative_id: str) -> None:
    assert await pool.fetchval("SELECT count(*) FROM initiatives WHERE id = $1", initiative_id) == 0
    assert await pool.fetchval("SELECT count(*) FROM lifecycle_events WHERE initiative_id = $1", initiative_id) == 0


async def _start_raw(
    client: Client, queue: str, inp: StartInitiativeInput, workflow_id: str
) -> WorkflowHandle[Any, Any]:
    return await client.start_workflow(
        INITIATIVE_WORKFLOW, inp, id=workflow_id, task_queue=queue, result_type=InitiativeStatusView
    )


async def test_a_forged_start_input_refuses_to_run(
    client: Client, secured_queue: str, pool: asyncpg.Pool, policy: Policy
) -> None:
    forged = make_start(_empty_gates(policy)).model_copy(update={"roster": {}})
    handle = await _start_raw(client, secured_queue, forged, workflow_id_for(forged.initiative_id))
    message = await _refused_start(handle)
    assert message.endswith(
        "refused to run: its start input carries no signature: it was not started through liftoff; nothing was recorded"
    )
    await _nothing_recorded(pool, forged.initiative_id)


async def test_an_altered_or_copied_start_input_refuses_to_run(
    client: Client, secured_queue: str, pool: asyncpg.Pool, policy: Policy
) -> None:
    genuine = make_start(policy)
    workflow_id = workflow_id_for(genuine.initiative_id)
    signature = sign_start(
        SECRET, workflow_id=workflow_id, payload=genuine.model_dump(mode="json"), now=datetime.now(UTC)
    )
    altered = genuine.model_copy(update={"signature": signature, "policy": _empty_gates(policy)})
    message = await _refused_start(await _start_raw(client, secured_queue, altered, workflow_id))
    assert "altered after liftoff signed it" in message
    await _nothing_recorded(pool, genuine.initiative_id)

    other = make_start(policy)
    copied = genuine.model_copy(update={"signature": signature})
    message = await _refused_start(
        await _start_raw(client, secured_queue, copied, workflow_id_for(other.initiative_id))
    )
    assert f"signed for workflow {workflow_id!r}" in message

    stale = sign_start(
        SECRET,
        workflow_id=workflow_id_for(other.initiative_id),
        payload=other.model_dump(mode="json"),
        now=datetime.now(UTC) - timedelta(hours=1),
    )
    late = other.model_copy(update={"signature": stale})
    message = await _refused_start(await _start_raw(client, secured_queue, late, workflow_id_for(other.initiative_id)))
    assert "should have happened earlier" in message


async def test_a_signed_start_runs_and_continues_as_new_signed(
    client: Client, secured_queue: str, policy: Policy
) -> None:
    inp = make_start(policy).model_copy(update={"history_limit": 30})
    iid = inp.initiative_id
    handle = await start(client, secured_queue, inp, secret=SECRET)

    def approve(who: str, role: Role, stage: str) -> ApproveInput:
        return _sign(iid, ApproveInput(approver=who, role=role), stage=stage)

    await update(handle, "approve", approve("paula@example.com", Role.PORTFOLIO, "proposed"))
    poc = SubmitPocResultsInput(actor=SUBMITTER, metrics={"auc": 0.9})
    await update(handle, "submit_poc_results", _sign(iid, poc, stage="poc", action="submit_poc_results"))
    await update(handle, "approve", approve("bob@example.com", Role.BUSINESS_OWNER, "poc"))
    await update(handle, "approve", approve("ian@example.com", Role.INFRASTRUCTURE, "infra_review"))
    await update(handle, "approve", approve("olga@example.com", Role.IT_OPERATIONS, "it_signoff"))
    runs = [w async for w in client.list_workflows(f'WorkflowId="{handle.id}"')]
    assert len(runs) >= 2, "the history limit should have made the workflow continue as new"
    # The new run verified the input the worker signed for it, and goes on.
    view = await update(handle, "approve", approve("beth@example.com", Role.BUSINESS_OWNER, "it_signoff"))
    assert view.stage in (Stage.ROLLOUT, Stage.PRODUCTION)
    final: InitiativeStatusView = await asyncio.wait_for(handle.result(), 60)
    assert final.stage is Stage.PRODUCTION
