"""The spend report: budget, PoC spend, provisioned cost and run-rate per initiative and rolled up."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from db import events_repo, reports_repo
from schemas.events import EventKind, InitiativeSnapshot, RecordEventsInput
from schemas.reports import ReportFilters
from schemas.stages import InitiativeStatus, Stage
from tests.conftest import SUBMITTER, make_spec
from tests.db.test_events_repo import POLICY, Connection, conn, event

__all__ = ["conn"]  # the fixture, used by name

NOW = datetime.now(UTC)


async def initiative(
    conn: Connection, *, team: str, bu: str, budget: float, poc_spend: float, stage: Stage = Stage.POC, title: str = "X"
) -> str:
    iid = f"spend-{uuid.uuid4().hex[:12]}"
    status = InitiativeStatus.SCRAPPED if stage is Stage.SCRAPPED else InitiativeStatus.ACTIVE
    snap = InitiativeSnapshot(
        initiative_id=iid,
        workflow_id=f"initiative-{iid}",
        spec=make_spec(team=team, business_unit=bu, budget_usd=budget, title=title),
        submitter=SUBMITTER,
        policy_version=POLICY,
        stage=stage,
        status=status,
        stage_entered_at=NOW,
        awaiting_roles=[],
        submitted_at=NOW - timedelta(days=60),
        poc_spend_usd=poc_spend,
    )
    events = [event(iid, 1, EventKind.SUBMITTED, Stage.PROPOSED, at=NOW - timedelta(days=60))]
    await events_repo.record_events(conn, RecordEventsInput(events=events, snapshot=snap))
    return iid


async def resource(conn: Connection, iid: str, cost: float, *, days_ago: float, gone: bool = False) -> None:
    ref = f"res-{uuid.uuid4().hex[:10]}"
    await conn.execute(
        "INSERT INTO provisioned_resources (ref, idempotency_key, initiative_id, provider, environment, status,"
        " cost_usd, created_at, deprovisioned_at) VALUES ($1, $2, $3, 'builtin', 'production', $4, $5, $6, $7)",
        ref,
        f"key-{ref}",
        iid,
        "deprovisioned" if gone else "ready",
        cost,
        NOW - timedelta(days=days_ago),
        NOW if gone else None,
    )


async def test_spend_per_initiative_and_rolled_up_equals_the_recorded_costs(conn: Connection) -> None:
    bu, team_a, team_b = (f"{p}-{uuid.uuid4().hex[:6]}" for p in ("bu", "a", "b"))
    over = await initiative(conn, team=team_a, bu=bu, budget=1000, poc_spend=200, title="=HYPERLINK(x)")
    await resource(conn, over, 900, days_ago=30)  # live for 30 days: 900 a month
    await resource(conn, over, 300, days_ago=10, gone=True)  # deprovisioned: no run-rate
    under = await initiative(conn, team=team_a, bu=bu, budget=5000, poc_spend=100)
    await resource(conn, under, 600, days_ago=60)  # 300 a month
    scrapped = await initiative(conn, team=team_b, bu=bu, budget=2000, poc_spend=700, stage=Stage.SCRAPPED)
    await resource(conn, scrapped, 50, days_ago=5, gone=True)
    idle = await initiative(conn, team=team_b, bu=bu, budget=100, poc_spend=0)

    report = (await reports_repo.spend(conn, ReportFilters(business_unit=bu))).model_dump(mode="json")

    rows = {r["id"]: r for r in report["rows"]}
    assert list(rows) == [over, scrapped, under, idle]  # most spent first
    assert rows[over]["provisioned_usd"] == 1200.0
    assert rows[over]["spent_usd"] == 1400.0
    assert rows[over]["monthly_run_rate_usd"] == pytest.approx(900.0, rel=1e-3)
    assert rows[over]["over_budget"] is True  # 1200 provisioned > 1000 budget
    assert rows[under]["monthly_run_rate_usd"] == pytest.approx(300.0, rel=1e-3)
    assert rows[under]["over_budget"] is False
    assert rows[scrapped]["scrapped"] is True
    assert rows[scrapped]["monthly_run_rate_usd"] == 0.0
    assert rows[idle]["provisioned_usd"] == 0.0

    totals = report["totals"]
    assert totals["initiatives"] == 4
    assert totals["budget_usd"] == 8100.0
    assert totals["poc_spend_usd"] == 1000.0
    assert totals["provisioned_usd"] == 1200.0 + 600.0 + 50.0  # the sum of the recorded costs
    assert totals["scrapped_spend_usd"] == 750.0
    assert totals["over_budget"] == 1
    teams = {r["value"]: r for r in report["by_team"]}
    assert teams[team_a]["provisioned_usd"] == 1800.0
    assert teams[team_b]["provisioned_usd"] == 50.0
    assert sum(t["provisioned_usd"] for t in teams.values()) == totals["provisioned_usd"]
    [unit] = report["by_business_unit"]
    assert (unit["value"], unit["initiatives"], unit["provisioned_usd"]) == (bu, 4, 1850.0)

    # a policy that tolerates 150% of the budget: 1200 of 1000 is within it
    lenient = await reports_repo.spend(conn, ReportFilters(business_unit=bu), over_budget_at=1.5)
    assert lenient.totals.over_budget == 0
    # the limit cuts the rows, never the roll-ups
    top = await reports_repo.spend(conn, ReportFilters(business_unit=bu), limit=1)
    assert [r.id for r in top.rows] == [over]
    assert top.totals.provisioned_usd == 1850.0


async def test_nothing_in_scope_is_zero_not_an_error(conn: Connection) -> None:
    report = await reports_repo.spend(conn, ReportFilters(team=f"nobody-{uuid.uuid4().hex[:6]}"))
    assert report.rows == []
    assert report.by_team == []
    assert (report.totals.initiatives, report.totals.provisioned_usd) == (0, 0.0)
