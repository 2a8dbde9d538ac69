"""Imported initiatives start at their stage, with their past at its dates, and carry on from there."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from temporalio.client import Client, WorkflowHandle

from schemas.decisions import ApproveInput
from schemas.imports import ImportLine, imported_start
from schemas.initiative import InitiativeSpec, StartInitiativeInput
from schemas.policy import Policy
from schemas.stages import InitiativeStatus, Role, Stage
from schemas.status import InitiativeStatusView
from schemas.taxonomy import ReasonCode
from tests.conftest import ROSTER, make_spec
from tests.workflows.helpers import start, status, update

NOW = datetime.now(UTC)
DAY = timedelta(days=1)


def line(**fields: Any) -> ImportLine:
    """An import line for the test spec, with ``fields`` (dates as datetimes)."""
    body = make_spec().model_dump(mode="json")
    body.update({k: v.isoformat() if isinstance(v, datetime) else v for k, v in fields.items()})
    return ImportLine.model_validate(body)


def start_input(policy: Policy, imported: ImportLine) -> StartInitiativeInput:
    return StartInitiativeInput(
        initiative_id=imported.initiative_id(),
        spec=InitiativeSpec.model_validate(imported.submission().model_dump()),
        submitter=imported.submitter or "importer@example.com",
        submitted_at_iso=imported.submitted_at.isoformat(),
        policy=policy,
        roster=ROSTER,
        imported=imported_start(imported, imported_by="admin@example.com", import_id="imp-test", number=1),
    )


async def _until(handle: WorkflowHandle[Any, Any], check: Any) -> InitiativeStatusView:
    view = await status(handle)
    for _ in range(200):
        if check(view):
            return view
        await asyncio.sleep(0.05)
        view = await status(handle)
    return view


async def _events(pool: asyncpg.Pool, iid: str, until: str = "imported") -> list[asyncpg.Record]:
    """The initiative's events once one of kind ``until`` is recorded."""
    for _ in range(100):
        rows = await pool.fetch(
            "SELECT kind, stage, occurred_at, reason_code, actor, data FROM lifecycle_events"
            " WHERE initiative_id=$1 ORDER BY seq",
            iid,
        )
        if any(r["kind"] == until for r in rows):
            return rows
        await asyncio.sleep(0.05)
    raise AssertionError(iid)


async def test_an_overdue_poc_import_stalls_at_once_with_its_reason_and_keeps_its_dates(
    client: Client, task_queue: str, pool: asyncpg.Pool, policy: Policy
) -> None:
    """PoC SLA 90 d: entered 120 d ago, no results → stalled now (POC_RESULTS_MISSING), not abandoned."""
    submitted, entered = NOW - 150 * DAY, NOW - 120 * DAY
    imported = line(
        stage="poc",
        submitted_at=submitted,
        stage_entered_at=entered,
        submitter="alice@example.com",
        approvals=[
            {
                "role": "portfolio",
                "person": "paula@example.com",
                "at": (submitted + DAY).isoformat(),
                "stage": "proposed",
            }
        ],
        external_refs=[{"system": "servicenow", "ref": "DMND0001"}],
    )
    inp = start_input(policy, imported)
    handle = await start(client, task_queue, inp)
    view = await _until(handle, lambda v: v.stall is not None)
    assert view.stage is Stage.POC
    assert view.status is InitiativeStatus.STALLED
    assert view.stall is not None
    assert view.stall.reason_code is ReasonCode.POC_RESULTS_MISSING
    assert datetime.fromisoformat(view.stage_entered_at) == entered
    assert view.visited == [Stage.PROPOSED, Stage.POC]

    events = await _events(pool, inp.initiative_id, until="stalled")
    kinds = [(r["kind"], r["stage"]) for r in events]
    assert kinds[:6] == [
        ("submitted", "proposed"),
        ("stage_entered", "proposed"),
        ("approved", "proposed"),
        ("stage_left", "proposed"),
        ("stage_entered", "poc"),
        ("imported", "poc"),
    ]
    assert events[0]["occurred_at"] == submitted
    assert events[2]["occurred_at"] == submitted + DAY
    assert events[2]["actor"] == "paula@example.com"
    assert events[3]["occurred_at"] == entered
    assert events[4]["occurred_at"] == entered
    assert events[5]["data"]["external_refs"] == [{"system": "servicenow", "ref": "DMND0001"}]
    stalled = [r for r in events if r["kind"] == "stalled"]
    assert [r["reason_code"] for r in stalled] == ["POC_RESULTS_MISSING"]
    assert "scrapped" not in {r["kind"] for r in events}  # the ladder counts from the import
    assert "reminded" not in {r["kind"] for r in events}  # reminders already past are not sent late
    notices = await pool.fetch("SELECT kind FROM notices WHERE initiative_id=$1", inp.initiative_id)
    assert {n["kind"] for n in notices} <= {"stalled", "escalated"}  # no notice for arriving, only the stall
    assert "sandbox_provisioned" in {r["kind"] for r in events}  # the PoC continues with a sandbox

    row = await pool.fetchrow("SELECT submitted_at, stage, status FROM initiatives WHERE id=$1", inp.initiative_id)
    assert row is not None
    assert (row["submitted_at"], row["stage"], row["status"]) == (submitted, "poc", "stalled")
    intervals = await pool.fetch(
        "SELECT stage, entered_at, left_at, outcome FROM stage_intervals WHERE initiative_id=$1 ORDER BY entered_at",
        inp.initiative_id,
    )
    assert [(r["stage"], r["entered_at"], r["left_at"], r["outcome"]) for r in intervals] == [
        ("proposed", submitted, entered, "advanced"),
        ("poc", entered, None, None),
    ]
    facts = await pool.fetchrow(
        "SELECT reached, submitted_at FROM report_initiative_facts WHERE initiative_id=$1", inp.initiative_id
    )
    assert facts is not None
    assert (facts["reached"], facts["submitted_at"]) == (0b11, submitted)


async def test_an_import_at_signoff_keeps_its_approvals_and_carries_on_to_production(
    client: Client, task_queue: str, pool: asyncpg.Pool, policy: Policy
) -> None:
    submitted, entered = NOW - 40 * DAY, NOW - 2 * DAY
    imported = line(
        stage="it_signoff",
        submitted_at=submitted,
        stage_entered_at=entered,
        stages_entered={"poc": NOW - 30 * DAY},
        approvals=[{"role": "it_operations", "person": "olga@example.com", "at": (NOW - DAY).isoformat()}],
        poc_results={"metrics": {"auc": 0.91}, "spend_usd": 1200},
    )
    inp = start_input(policy, imported)
    handle = await start(client, task_queue, inp)
    view = await _until(handle, lambda v: v.stage is Stage.IT_SIGNOFF)
    assert view.awaiting_roles == ["business_owner"]
    assert [(a.approver, a.role) for a in view.approvals] == [("olga@example.com", Role.IT_OPERATIONS)]
    assert view.poc is not None
    assert view.poc.met
    assert view.stall is None
    await _events(pool, inp.initiative_id)
    intervals = await pool.fetch(
        "SELECT stage, entered_at FROM stage_intervals WHERE initiative_id=$1 ORDER BY entered_at, stage",
        inp.initiative_id,
    )
    # infra_review's date is not known: it counts as entered when the next stage was
    assert [(r["stage"], r["entered_at"]) for r in intervals] == [
        ("proposed", submitted),
        ("poc", NOW - 30 * DAY),
        ("infra_review", entered),
        ("it_signoff", entered),
    ]
    quiet = await pool.fetch("SELECT kind FROM notices WHERE initiative_id=$1", inp.initiative_id)
    assert [n["kind"] for n in quiet] == []  # an import arrives quietly
    ticket = 0
    for _ in range(100):  # the entry actions run after the first record
        ticket = await pool.fetchval(
            "SELECT count(*) FROM tickets WHERE initiative_id=$1 AND kind='signoff'", inp.initiative_id
        )
        if ticket:
            break
        await asyncio.sleep(0.05)
    assert ticket == 1  # the gate is open as any other: its sign-off ticket exists

    view = await update(handle, "approve", ApproveInput(approver="beth@example.com", role=Role.BUSINESS_OWNER))
    result = await handle.result()
    assert result.stage is Stage.PRODUCTION
    spend = await pool.fetchval("SELECT poc_spend_usd FROM initiatives WHERE id=$1", inp.initiative_id)
    assert spend == 1200


async def test_an_import_in_production_is_counted_at_its_dates_and_ends(
    client: Client, task_queue: str, pool: asyncpg.Pool, policy: Policy
) -> None:
    submitted, live = NOW - 400 * DAY, NOW - 100 * DAY
    imported = line(stage="production", submitted_at=submitted, stage_entered_at=live)
    inp = start_input(policy, imported)
    handle = await start(client, task_queue, inp)
    result = await handle.result()
    assert result.stage is Stage.PRODUCTION
    await _events(pool, inp.initiative_id)
    facts = await pool.fetchrow(
        "SELECT reached, production_at, submitted_at FROM report_initiative_facts WHERE initiative_id=$1",
        inp.initiative_id,
    )
    assert facts is not None
    assert facts["reached"] == 0b111111
    assert (facts["submitted_at"], facts["production_at"]) == (submitted, live)
