"""Stalls on the time-skipping server: SLAs of days pass in milliseconds.

Default policy: proposed SLA 14 d (abandon after 60 d), poc 90 d (180 d), infra_review 21 d (90 d);
escalation ladder: the owner at 1x SLA, the sponsor at 2x.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import asyncpg
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from schemas.decisions import ApproveInput, HoldInput, ReportBlockerInput, ResumeInput, SubmitPocResultsInput
from schemas.policy import Policy
from schemas.stages import InitiativeStatus, Role, Stage
from schemas.status import InitiativeStatusView
from schemas.taxonomy import ReasonCode
from tests.conftest import SUBMITTER, make_start
from tests.workflows.helpers import start, status, update
from workflows import search_attributes as sa

DAY = timedelta(days=1)


async def _settled(handle: WorkflowHandle[Any, Any]) -> InitiativeStatusView:
    """The status once the workflow has handled what is due (activities run in real time)."""
    quiet = 0
    for _ in range(200):
        raw = (await handle.describe()).raw_description
        busy = bool(raw.pending_activities) or raw.HasField("pending_workflow_task")
        quiet = 0 if busy else quiet + 1
        if quiet == 3:
            break
        await asyncio.sleep(0.02)
    return await status(handle)


async def _until(
    handle: WorkflowHandle[Any, Any], check: Callable[[InitiativeStatusView], bool]
) -> InitiativeStatusView:
    """The status once ``check`` holds: timers that a skip passed fire a moment after the skip returns."""
    view = await status(handle)
    for _ in range(250):
        if check(view):
            break
        await asyncio.sleep(0.02)
        view = await status(handle)
    await _settled(handle)
    return await status(handle)


async def _kinds(pool: asyncpg.Pool, initiative_id: str) -> list[tuple[str, str | None]]:
    rows = await pool.fetch(
        "SELECT kind, reason_code FROM lifecycle_events WHERE initiative_id=$1 AND seq > 0 ORDER BY seq", initiative_id
    )
    return [(r["kind"], r["reason_code"]) for r in rows]


async def _stalled_attr(client: Client, handle: WorkflowHandle[Any, Any]) -> bool | None:
    del client
    return (await handle.describe()).typed_search_attributes.get(sa.STALLED)


async def test_approval_pending_stalls_escalates_and_clears(
    ts: tuple[WorkflowEnvironment, str], pool: asyncpg.Pool, policy: Policy
) -> None:
    env, queue = ts
    inp = make_start(policy)
    handle = await start(env.client, queue, inp)
    await status(handle)

    await env.sleep(13 * DAY)
    view = await _settled(handle)
    assert view.stall is None
    assert view.status is InitiativeStatus.ACTIVE

    await env.sleep(2 * DAY)
    view = await _until(handle, lambda v: v.stall is not None and v.stall.escalation_level == 1)
    assert view.status is InitiativeStatus.STALLED
    assert view.stall is not None
    assert view.stall.reason_code is ReasonCode.APPROVAL_PENDING
    assert view.stall.detail == "waiting for approval by portfolio"
    assert view.stall.escalation_level == 1
    assert view.stall.owners == ["paula@example.com"]
    assert await _stalled_attr(env.client, handle) is True
    escalation = await pool.fetchrow(
        "SELECT ref, status, body FROM tickets WHERE initiative_id=$1 AND kind='escalation'", inp.initiative_id
    )
    assert escalation is not None
    assert escalation["status"] == "open"
    assert "paula@example.com" in escalation["body"]
    assert view.stall.tickets == [escalation["ref"]]

    view = await update(handle, "approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO))
    assert view.stage is Stage.POC
    assert view.stall is None
    assert await _stalled_attr(env.client, handle) is False
    events = await _kinds(pool, inp.initiative_id)
    assert ("stalled", "APPROVAL_PENDING") in events
    assert ("escalated", "APPROVAL_PENDING") in events
    cleared = await pool.fetchrow(
        "SELECT data FROM lifecycle_events WHERE initiative_id=$1 AND kind='stall_cleared'", inp.initiative_id
    )
    assert cleared is not None
    assert 86_400 - 60 <= cleared["data"]["stalled_seconds"] <= 86_400 + 60  # stalled from day 14 to day 15
    closed = await pool.fetchval("SELECT status FROM tickets WHERE ref=$1", escalation["ref"])
    assert closed == "done"
    interval = await pool.fetchrow(
        "SELECT stalls, stalled_seconds, last_stall_reason FROM stage_intervals "
        "WHERE initiative_id=$1 AND stage='proposed'",
        inp.initiative_id,
    )
    assert interval is not None
    assert interval["stalls"] == 1
    assert interval["last_stall_reason"] == "APPROVAL_PENDING"
    assert abs(interval["stalled_seconds"] - 86_400) <= 60


async def test_ladder_then_abandonment_with_compensation(
    ts: tuple[WorkflowEnvironment, str], pool: asyncpg.Pool, policy: Policy
) -> None:
    env, queue = ts
    inp = make_start(policy)
    handle = await start(env.client, queue, inp)
    await update(handle, "approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO))

    await env.sleep(91 * DAY)
    view = await _until(handle, lambda v: v.stall is not None)
    assert view.stall is not None
    assert view.stall.reason_code is ReasonCode.POC_RESULTS_MISSING
    await env.sleep(90 * DAY)  # 181 d: past 2x SLA (sponsor) and past abandon_after (180 d)
    final: InitiativeStatusView = await handle.result()
    assert final.stage is Stage.SCRAPPED
    assert final.reason_code is ReasonCode.ABANDONED
    assert final.reason_detail == "abandoned after poc stalled: POC_RESULTS_MISSING (no PoC results submitted)"

    iid = inp.initiative_id
    levels = [
        (r["data"]["level"], r["data"]["notify"])
        for r in await pool.fetch(
            "SELECT data FROM lifecycle_events WHERE initiative_id=$1 AND kind='escalated' ORDER BY seq", iid
        )
    ]
    assert levels == [(1, "owner"), (2, "sponsor")]
    sponsor_ticket = await pool.fetchval(
        "SELECT body FROM tickets WHERE initiative_id=$1 AND kind='escalation' ORDER BY opened_at DESC LIMIT 1", iid
    )
    assert "cfo@example.com" in sponsor_ticket
    statuses = {r["status"] for r in await pool.fetch("SELECT status FROM tickets WHERE initiative_id=$1", iid)}
    assert statuses == {"cancelled"}
    sandbox = await pool.fetchval(
        "SELECT status FROM provisioned_resources WHERE initiative_id=$1 AND environment='poc'", iid
    )
    assert sandbox == "deprovisioned"
    scrapped = await pool.fetchrow(
        "SELECT stage, reason_code, actor, data FROM lifecycle_events WHERE initiative_id=$1 AND kind='scrapped'", iid
    )
    assert scrapped is not None
    assert (scrapped["stage"], scrapped["reason_code"], scrapped["actor"]) == ("poc", "ABANDONED", "liftoff")
    assert 89 * 86_400 <= scrapped["data"]["stalled_seconds"] <= 91 * 86_400
    renewals = await pool.fetchval(
        "SELECT count(*) FROM lifecycle_events WHERE initiative_id=$1 AND kind='sandbox_renewed'", iid
    )
    assert renewals >= 3  # the 90 d sandbox TTL is renewed every 45 d while the PoC is active


async def test_derived_reasons_criteria_findings_and_blocker(
    ts: tuple[WorkflowEnvironment, str], policy: Policy
) -> None:
    env, queue = ts
    failed = await start(env.client, queue, make_start(policy))
    await update(failed, "approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO))
    await update(failed, "submit_poc_results", SubmitPocResultsInput(actor=SUBMITTER, metrics={"auc": 0.5}))

    blocked = await start(env.client, queue, make_start(policy))
    await update(blocked, "approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO))
    await update(
        blocked,
        "report_blocker",
        ReportBlockerInput(actor=SUBMITTER, reason_code=ReasonCode.DATA_ACCESS_BLOCKED, detail="no ERP access"),
    )

    findings = await start(env.client, queue, make_start(policy, budget_usd=900_000))
    await update(findings, "approve", ApproveInput(approver="paula@example.com", role=Role.PORTFOLIO))
    await update(findings, "submit_poc_results", SubmitPocResultsInput(actor=SUBMITTER, metrics={"auc": 0.9}))
    await update(findings, "approve", ApproveInput(approver="bob@example.com", role=Role.BUSINESS_OWNER))

    stalled: Callable[[InitiativeStatusView], bool] = lambda v: v.stall is not None  # noqa: E731
    await env.sleep(22 * DAY)  # infra_review's SLA is 21 d
    stall = (await _until(findings, stalled)).stall
    assert stall is not None
    assert (stall.reason_code, stall.detail) == (ReasonCode.FINDINGS_OPEN, "blocking findings open: F-1")

    await env.sleep(70 * DAY)  # poc's SLA is 90 d
    stall = (await _until(failed, stalled)).stall
    assert stall is not None
    assert (stall.reason_code, stall.detail) == (
        ReasonCode.POC_CRITERIA_NOT_MET,
        "PoC criteria not met: auc >= 0.8 (got 0.5)",
    )
    stall = (await _until(blocked, stalled)).stall
    assert stall is not None
    assert (stall.reason_code, stall.detail) == (ReasonCode.DATA_ACCESS_BLOCKED, "team reported: no ERP access")
    abandoned = await _until(findings, lambda v: v.stage is Stage.SCRAPPED)  # infra_review's abandon_after: 90 d
    assert abandoned.reason_code is ReasonCode.ABANDONED
    assert abandoned.reason_detail == (
        "abandoned after infra_review stalled: FINDINGS_OPEN (blocking findings open: F-1)"
    )


async def test_hold_pauses_the_clock_and_resume_restarts_it_with_the_time_left(
    ts: tuple[WorkflowEnvironment, str], policy: Policy
) -> None:
    env, queue = ts
    handle = await start(env.client, queue, make_start(policy))
    await status(handle)
    await env.sleep(5 * DAY)
    view = await update(handle, "hold", HoldInput(actor=SUBMITTER, reason_code=ReasonCode.BUDGET_CUT))
    assert view.status is InitiativeStatus.ON_HOLD
    await env.sleep(100 * DAY)  # far past the SLA and abandon_after: nothing happens while on hold
    view = await _settled(handle)
    assert view.stall is None
    assert view.stage is Stage.PROPOSED
    await update(handle, "resume", ResumeInput(actor=SUBMITTER))
    await env.sleep(8 * DAY)  # 5 + 8 = 13 d of running clock: still inside the 14 d SLA
    view = await _settled(handle)
    assert view.stall is None
    await env.sleep(2 * DAY)  # 15 d of running clock
    view = await _until(handle, lambda v: v.stall is not None)
    assert view.stall is not None
    assert view.stall.reason_code is ReasonCode.APPROVAL_PENDING
