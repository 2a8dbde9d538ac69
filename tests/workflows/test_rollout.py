"""RolloutWorkflow as a saga: a failed step undoes what was done and sends the initiative back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from activities.provisioning import BuiltinProvisioner
from schemas.decisions import ApproveInput, SubmitPocResultsInput
from schemas.integrations import ProvisionInput, Resource
from schemas.policy import Policy
from schemas.stages import Role, Stage
from tests.conftest import SUBMITTER, make_start
from tests.workflows.helpers import start, status, update
from worker.wiring import WORKFLOWS, build_activities


def _worker_without_production_capacity(client: Client, pool: asyncpg.Pool, queue: str) -> Worker:
    builtin = BuiltinProvisioner(pool)

    @activity.defn(name="provision")
    async def provision(inp: ProvisionInput) -> Resource:
        if inp.environment == "production":
            raise ApplicationError(
                "no GPU quota left in the production cluster", type="CapacityQuotaUnavailable", non_retryable=True
            )
        return await builtin.provision(inp)

    def keep(fn: Callable[..., Any]) -> bool:
        definition = activity._Definition.must_from_callable(fn)
        return definition.name != "provision"

    activities = [fn for fn in build_activities(pool) if keep(fn)] + [provision]
    return Worker(client, task_queue=queue, workflows=list(WORKFLOWS), activities=activities)


async def test_failed_rollout_compensates_and_returns_to_it_signoff(
    client: Client, pool: asyncpg.Pool, policy: Policy
) -> None:
    queue = f"test-{uuid.uuid4()}"
    async with _worker_without_production_capacity(client, pool, queue):
        inp = make_start(policy)
        handle = await start(client, queue, inp)
        await update(handle, "approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO))
        await update(handle, "submit_poc_results", SubmitPocResultsInput(actor=SUBMITTER, metrics={"auc": 0.9}))
        await update(handle, "approve", ApproveInput(approver="bob@example.com", role=Role.BUSINESS_OWNER))
        await update(handle, "approve", ApproveInput(approver="ian@example.com", role=Role.INFRASTRUCTURE))
        await update(handle, "approve", ApproveInput(approver="olga@example.com", role=Role.IT_OPERATIONS))
        await update(handle, "approve", ApproveInput(approver="beth@example.com", role=Role.BUSINESS_OWNER))

        iid = inp.initiative_id
        view = await status(handle)
        for _ in range(200):  # the rollout runs in a child workflow after the last approval
            reentered = await pool.fetchval(
                "SELECT count(*) FROM lifecycle_events WHERE initiative_id=$1 AND kind='stage_entered' "
                "AND stage='it_signoff'",
                iid,
            )
            if reentered == 2:
                break
            await asyncio.sleep(0.05)
        view = await status(handle)
        assert view.stage is Stage.IT_SIGNOFF
        assert view.approvals == []
        assert view.awaiting_roles == ["it_operations", "business_owner"]

        failed = await pool.fetchrow(
            "SELECT reason_code, data FROM lifecycle_events WHERE initiative_id=$1 AND kind='rollout_failed'", iid
        )
        assert failed is not None
        assert failed["reason_code"] == "CAPACITY_QUOTA_UNAVAILABLE"
        change = await pool.fetchrow(
            "SELECT status, comments FROM tickets WHERE initiative_id=$1 AND kind='change'", iid
        )
        assert change is not None
        assert change["status"] == "failed"
        assert "no GPU quota left" in change["comments"][0]
        assert failed["data"]["compensated"] == [f"ticket {await _change_ref(pool, iid)} closed as failed"]
        production = await pool.fetchval(
            "SELECT count(*) FROM provisioned_resources WHERE initiative_id=$1 AND environment='production'", iid
        )
        assert production == 0
        interval = await pool.fetchrow(
            "SELECT outcome, reason_code FROM stage_intervals WHERE initiative_id=$1 AND stage='rollout'", iid
        )
        assert interval is not None
        assert dict(interval) == {"outcome": "sent_back", "reason_code": "CAPACITY_QUOTA_UNAVAILABLE"}
        visits = await pool.fetchval(
            "SELECT max(visit) FROM stage_intervals WHERE initiative_id=$1 AND stage='it_signoff'", iid
        )
        assert visits == 2


async def _change_ref(pool: asyncpg.Pool, initiative_id: str) -> str:
    ref: str = await pool.fetchval("SELECT ref FROM tickets WHERE initiative_id=$1 AND kind='change'", initiative_id)
    return ref


async def test_policy_can_scrap_after_a_failed_rollout(client: Client, pool: asyncpg.Pool, policy: Policy) -> None:
    queue = f"test-{uuid.uuid4()}"
    scrapping = policy.model_copy(update={"rollout_failure": "scrap"})
    async with _worker_without_production_capacity(client, pool, queue):
        inp = make_start(scrapping)
        handle = await start(client, queue, inp)
        await update(handle, "approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO))
        await update(handle, "submit_poc_results", SubmitPocResultsInput(actor=SUBMITTER, metrics={"auc": 0.9}))
        await update(handle, "approve", ApproveInput(approver="bob@example.com", role=Role.BUSINESS_OWNER))
        await update(handle, "approve", ApproveInput(approver="ian@example.com", role=Role.INFRASTRUCTURE))
        await update(handle, "approve", ApproveInput(approver="olga@example.com", role=Role.IT_OPERATIONS))
        await update(handle, "approve", ApproveInput(approver="beth@example.com", role=Role.BUSINESS_OWNER))
        final = await handle.result()
    assert final.stage is Stage.SCRAPPED
    assert final.reason_code is not None
    assert final.reason_code.value == "CAPACITY_QUOTA_UNAVAILABLE"
    assert final.reason_detail.startswith("rollout failed: ")
    scrapped_in = await pool.fetchval(
        "SELECT stage FROM lifecycle_events WHERE initiative_id=$1 AND kind='scrapped'", inp.initiative_id
    )
    assert scrapped_in == "rollout"
