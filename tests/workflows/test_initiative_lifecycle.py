"""InitiativeWorkflow on a real Temporal dev server with the real activities and PostgreSQL."""

from __future__ import annotations

import asyncpg
from temporalio.client import Client

from schemas.decisions import ApproveInput, RejectInput, ScrapInput, SubmitPocResultsInput
from schemas.policy import Policy
from schemas.stages import InitiativeStatus, Role, Stage
from schemas.status import InitiativeStatusView
from schemas.taxonomy import ReasonCode
from tests.conftest import SUBMITTER, make_start
from tests.workflows.helpers import start, update


def _approve(who: str, role: Role, stage: Stage | None = None) -> ApproveInput:
    return ApproveInput(approver=who, role=role, stage=stage)


async def test_happy_path_reaches_production_and_records_everything(
    client: Client, task_queue: str, pool: asyncpg.Pool, policy: Policy
) -> None:
    inp = make_start(policy)
    handle = await start(client, task_queue, inp)

    view = await update(handle, "approve", _approve("paula@example.com", Role.PORTFOLIO, Stage.PROPOSED))
    assert view.stage is Stage.POC
    assert view.awaiting_roles == ["business_owner"]

    view = await update(
        handle, "submit_poc_results", SubmitPocResultsInput(actor=SUBMITTER, metrics={"auc": 0.91}, spend_usd=1200)
    )
    assert view.poc is not None
    assert view.poc.met is True
    view = await update(handle, "approve", _approve("bob@example.com", Role.BUSINESS_OWNER))
    assert view.stage is Stage.INFRA_REVIEW

    view = await update(handle, "approve", _approve("ian@example.com", Role.INFRASTRUCTURE))
    assert view.stage is Stage.IT_SIGNOFF
    assert view.awaiting_roles == ["it_operations", "business_owner"]

    view = await update(handle, "approve", _approve("olga@example.com", Role.IT_OPERATIONS))
    assert view.stage is Stage.IT_SIGNOFF
    assert view.awaiting_roles == ["business_owner"]
    view = await update(handle, "approve", _approve("beth@example.com", Role.BUSINESS_OWNER))
    assert view.stage in (Stage.ROLLOUT, Stage.PRODUCTION)

    final: InitiativeStatusView = await handle.result()
    assert final.stage is Stage.PRODUCTION
    assert final.status is InitiativeStatus.PRODUCTION
    assert final.visited == [
        Stage.PROPOSED,
        Stage.POC,
        Stage.INFRA_REVIEW,
        Stage.IT_SIGNOFF,
        Stage.ROLLOUT,
        Stage.PRODUCTION,
    ]

    iid = inp.initiative_id
    row = await pool.fetchrow("SELECT stage, status, poc_spend_usd, awaiting_roles FROM initiatives WHERE id=$1", iid)
    assert row is not None
    assert (row["stage"], row["status"]) == ("production", "production")
    assert float(row["poc_spend_usd"]) == 1200
    assert row["awaiting_roles"] == []

    kinds = [
        r["kind"]
        for r in await pool.fetch("SELECT kind FROM lifecycle_events WHERE initiative_id=$1 ORDER BY seq", iid)
    ]
    assert kinds[:2] == ["submitted", "stage_entered"]
    assert kinds.count("approved") == 5
    assert kinds.count("stage_entered") == 6
    assert kinds[-1] == "production"
    assert "sandbox_provisioned" in kinds
    assert "sandbox_deprovisioned" in kinds

    intervals = await pool.fetch(
        "SELECT stage, visit, outcome, left_at IS NOT NULL AS closed FROM stage_intervals WHERE initiative_id=$1 "
        "ORDER BY entered_at, stage",
        iid,
    )
    by_stage = {r["stage"]: r for r in intervals}
    assert set(by_stage) == {"proposed", "poc", "infra_review", "it_signoff", "rollout", "production"}
    assert all(r["closed"] for r in intervals)
    assert by_stage["poc"]["outcome"] == "advanced"

    tickets = {
        r["kind"]: r["status"] for r in await pool.fetch("SELECT kind, status FROM tickets WHERE initiative_id=$1", iid)
    }
    assert tickets == {"signoff": "done", "change": "done"}
    resources = {
        r["environment"]: r["status"]
        for r in await pool.fetch("SELECT environment, status FROM provisioned_resources WHERE initiative_id=$1", iid)
    }
    assert resources == {"poc": "deprovisioned", "production": "ready"}


async def test_failed_poc_results_keep_the_gate_closed_until_met(
    client: Client, task_queue: str, policy: Policy
) -> None:
    inp = make_start(policy)
    handle = await start(client, task_queue, inp)
    await update(handle, "approve", _approve("paula@example.com", Role.PORTFOLIO))
    view = await update(handle, "submit_poc_results", SubmitPocResultsInput(actor=SUBMITTER, metrics={"auc": 0.7}))
    assert view.poc is not None
    assert view.poc.met is False
    assert view.poc.unmet == ["auc >= 0.8 (got 0.7)"]
    view = await update(handle, "submit_poc_results", SubmitPocResultsInput(actor=SUBMITTER, metrics={"auc": 0.82}))
    assert view.poc is not None
    assert view.poc.met is True
    assert view.stage is Stage.POC


async def test_reject_scraps_with_reason_and_releases_the_sandbox(
    client: Client, task_queue: str, pool: asyncpg.Pool, policy: Policy
) -> None:
    inp = make_start(policy)
    handle = await start(client, task_queue, inp)
    await update(handle, "approve", _approve("paula@example.com", Role.PORTFOLIO))
    view = await update(
        handle,
        "reject",
        RejectInput(
            approver="bob@example.com",
            role=Role.BUSINESS_OWNER,
            reason_code=ReasonCode.BIZ_VALUE_UNPROVEN,
            detail="no uplift",
        ),
    )
    assert view.stage is Stage.SCRAPPED
    assert view.reason_code is ReasonCode.BIZ_VALUE_UNPROVEN
    final: InitiativeStatusView = await handle.result()
    assert final.status is InitiativeStatus.SCRAPPED

    iid = inp.initiative_id
    scrapped = await pool.fetchrow(
        "SELECT stage, reason_code, reason_family, actor FROM lifecycle_events "
        "WHERE initiative_id=$1 AND kind='scrapped'",
        iid,
    )
    assert scrapped is not None
    assert dict(scrapped) == {
        "stage": "poc",
        "reason_code": "BIZ_VALUE_UNPROVEN",
        "reason_family": "BUSINESS",
        "actor": "bob@example.com",
    }
    sandbox = await pool.fetchval(
        "SELECT status FROM provisioned_resources WHERE initiative_id=$1 AND environment='poc'", iid
    )
    assert sandbox == "deprovisioned"
    poc_interval = await pool.fetchrow(
        "SELECT outcome, reason_code FROM stage_intervals WHERE initiative_id=$1 AND stage='poc'", iid
    )
    assert poc_interval is not None
    assert dict(poc_interval) == {"outcome": "scrapped", "reason_code": "BIZ_VALUE_UNPROVEN"}
    row = await pool.fetchrow("SELECT stage, status, reason_code FROM initiatives WHERE id=$1", iid)
    assert row is not None
    assert dict(row) == {"stage": "scrapped", "status": "scrapped", "reason_code": "BIZ_VALUE_UNPROVEN"}


async def test_scrap_at_it_signoff_closes_the_signoff_ticket(
    client: Client, task_queue: str, pool: asyncpg.Pool, policy: Policy
) -> None:
    inp = make_start(policy)
    handle = await start(client, task_queue, inp)
    await update(handle, "approve", _approve("paula@example.com", Role.PORTFOLIO))
    await update(handle, "submit_poc_results", SubmitPocResultsInput(actor=SUBMITTER, metrics={"auc": 0.9}))
    await update(handle, "approve", _approve("bob@example.com", Role.BUSINESS_OWNER))
    view = await update(handle, "approve", _approve("ian@example.com", Role.INFRASTRUCTURE))
    assert view.stage is Stage.IT_SIGNOFF
    view = await update(
        handle, "scrap", ScrapInput(actor=SUBMITTER, reason_code=ReasonCode.BUDGET_CUT, detail="budget withdrawn")
    )
    assert view.stage is Stage.SCRAPPED
    await handle.result()
    ticket = await pool.fetchval(
        "SELECT status FROM tickets WHERE initiative_id=$1 AND kind='signoff'", inp.initiative_id
    )
    assert ticket == "cancelled"


async def test_blocking_finding_holds_infra_review(client: Client, task_queue: str, policy: Policy) -> None:
    inp = make_start(policy, budget_usd=900_000)
    handle = await start(client, task_queue, inp)
    await update(handle, "approve", _approve("paula@example.com", Role.PORTFOLIO))
    await update(handle, "submit_poc_results", SubmitPocResultsInput(actor=SUBMITTER, metrics={"auc": 0.9}))
    view = await update(handle, "approve", _approve("bob@example.com", Role.BUSINESS_OWNER))
    assert [(f.id, f.rule, f.blocking) for f in view.findings] == [("F-1", "budget", True)]
    assert view.stage is Stage.INFRA_REVIEW
