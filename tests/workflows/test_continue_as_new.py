"""A long-lived initiative continues as new with its state and pending approvals intact."""

from __future__ import annotations

import asyncio

import asyncpg
from temporalio.client import Client

from schemas.decisions import ApproveInput, HoldInput, ReportBlockerInput, SubmitPocResultsInput
from schemas.policy import Policy
from schemas.stages import InitiativeStatus, Role, Stage
from schemas.status import InitiativeStatusView
from schemas.taxonomy import ReasonCode
from tests.conftest import SUBMITTER, make_start
from tests.workflows.helpers import start, status, update


async def _current_run(client: Client, workflow_id: str) -> str:
    """The run id of the workflow's latest run (from the server, not eventually consistent visibility)."""
    return (await client.get_workflow_handle(workflow_id).describe()).run_id or ""


async def _runs(client: Client, workflow_id: str) -> int:
    return len([w async for w in client.list_workflows(f'WorkflowId="{workflow_id}"')])


async def test_continue_as_new_mid_stage_keeps_pending_approvals(
    client: Client, task_queue: str, pool: asyncpg.Pool, policy: Policy
) -> None:
    inp = make_start(policy).model_copy(update={"history_limit": 30})
    handle = await start(client, task_queue, inp)
    await update(handle, "approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO))
    await update(
        handle, "submit_poc_results", SubmitPocResultsInput(actor=SUBMITTER, metrics={"auc": 0.9}, spend_usd=700)
    )
    await update(handle, "approve", ApproveInput(approver="bob@example.com", role=Role.BUSINESS_OWNER))
    await update(handle, "approve", ApproveInput(approver="ian@example.com", role=Role.INFRASTRUCTURE))
    await update(
        handle, "report_blocker", ReportBlockerInput(actor=SUBMITTER, reason_code=ReasonCode.SKILLS_UNAVAILABLE)
    )
    view = await update(handle, "approve", ApproveInput(approver="olga@example.com", role=Role.IT_OPERATIONS))
    assert view.awaiting_roles == ["business_owner"]
    run_with_approval = await _current_run(client, handle.id)

    # Past its history limit the workflow hands over to a new run mid-stage, olga's approval pending. How many
    # events a run takes depends on load (a workflow task that times out adds some), so the run may have
    # handed over before the approval: then hold and resume (more history) until it hands over after it.
    for _ in range(20):
        for _ in range(20):
            if await _current_run(client, handle.id) != run_with_approval:
                break
            await asyncio.sleep(0.05)
        else:
            await update(handle, "hold", HoldInput(actor=SUBMITTER, reason_code=ReasonCode.BUDGET_CUT))
            await update(handle, "resume", {"actor": SUBMITTER})
            continue
        break
    assert await _current_run(client, handle.id) != run_with_approval, "the workflow did not continue as new"

    carried: InitiativeStatusView = await status(handle)
    assert carried.stage is Stage.IT_SIGNOFF
    assert [(a.approver, a.role) for a in carried.approvals] == [("olga@example.com", Role.IT_OPERATIONS)]
    assert carried.awaiting_roles == ["business_owner"]
    assert carried.blocker is not None
    assert carried.blocker.reason_code is ReasonCode.SKILLS_UNAVAILABLE
    assert carried.visited == [Stage.PROPOSED, Stage.POC, Stage.INFRA_REVIEW, Stage.IT_SIGNOFF]

    # a decision validated against the carried state: olga cannot approve twice
    view = await update(handle, "hold", HoldInput(actor=SUBMITTER, reason_code=ReasonCode.BUDGET_CUT))
    assert view.status is InitiativeStatus.ON_HOLD
    await update(handle, "resume", {"actor": SUBMITTER})
    view = await update(handle, "approve", ApproveInput(approver="beth@example.com", role=Role.BUSINESS_OWNER))
    assert view.stage in (Stage.ROLLOUT, Stage.PRODUCTION)
    final: InitiativeStatusView = await handle.result()  # follows the chain of runs
    assert final.stage is Stage.PRODUCTION
    assert await _runs(client, handle.id) >= 2

    iid = inp.initiative_id
    seqs = [
        r["seq"] for r in await pool.fetch("SELECT seq FROM lifecycle_events WHERE initiative_id=$1 ORDER BY seq", iid)
    ]
    assert seqs == list(range(1, len(seqs) + 1))  # one unbroken, duplicate-free event log across runs
    row = await pool.fetchrow("SELECT stage, poc_spend_usd FROM initiatives WHERE id=$1", iid)
    assert row is not None
    assert (row["stage"], float(row["poc_spend_usd"])) == ("production", 700.0)
