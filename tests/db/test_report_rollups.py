"""The report rollups (migration 0005) stay equal to the rows they summarise, whoever writes and in what order."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from temporalio.testing import ActivityEnvironment

from activities.provisioning import BuiltinProvisioner, ProvisioningActivities
from bench.reports import row_by_row
from db import events_repo, reports_repo, rollups_repo
from db.pool import Conn
from schemas.classification import DeploymentTarget, Procurement
from schemas.events import EventKind, InitiativeSnapshot, RecordEventsInput
from schemas.integrations import ProvisionInput
from schemas.reports import ReportFilters
from schemas.stages import InitiativeStatus, Stage
from schemas.taxonomy import ReasonCode
from tests.conftest import SUBMITTER, make_spec
from tests.db.test_events_repo import POLICY, T0, Connection, conn
from tests.db.test_reports import Walk, _record, _start, seed

__all__ = ["conn"]  # the fixture, re-used from the repository tests

DAY = timedelta(days=1)
#: Each rollup table and the view that defines its rows.
ROLLUPS = {
    "report_initiative_facts": "report_initiative_facts_source",
    "report_stall_episodes": "report_stall_episodes_source",
    "report_stage_visits": "report_stage_visits_source",
}


async def rollup_rows(conn: Conn | asyncpg.Pool, table: str, ids: list[str]) -> set[tuple[object, ...]]:
    rows = await conn.fetch(f"SELECT * FROM {table} WHERE initiative_id = ANY($1::text[])", ids)  # noqa: S608 - constant names
    return {tuple(r.values()) for r in rows}


def assert_close(a: object, b: object, where: str = "") -> None:
    """Equal, except floats within a relative 1e-12 of each other."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_close(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), where
        for n, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_close(x, y, f"{where}[{n}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-12), where
    else:
        assert a == b, where


async def assert_rollups_match_sources(conn: Conn | asyncpg.Pool, ids: list[str]) -> dict[str, int]:
    """Every rollup holds exactly the rows its view computes for ``ids``; returns the row counts.

    The per-day counts of the whole portfolio's visits must equal a count of every visit, whatever else the
    database holds.
    """
    counts = {}
    for table, view in ROLLUPS.items():
        stored, computed = await rollup_rows(conn, table, ids), await rollup_rows(conn, view, ids)
        assert stored == computed, table
        counts[table] = len(stored)
    days = await conn.fetch(
        "SELECT stage, submitted_month, day, visits, stalls, stalled_seconds FROM report_stage_visit_days"
        " WHERE visits <> 0 OR stalls <> 0 OR stalled_seconds <> 0 ORDER BY 1, 2, 3"
    )
    counted = await conn.fetch(
        "SELECT stage, submitted_month, coalesce(day, -1) AS day, count(*)::int AS visits, sum(stalls) AS stalls,"
        " sum(stalled_seconds::numeric) AS stalled_seconds FROM report_stage_visits GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    )
    assert [tuple(r.values()) for r in days] == [tuple(r.values()) for r in counted]
    keys = (
        "reached, advanced, scrapped, stage, procurement, deployment_target,"
        " scrap_stage, scrap_family, scrap_code, scrap_underlying_code"
    )
    portfolio = await conn.fetch(
        f"SELECT {keys}, initiatives, poc_spend_usd, provisioning_usd FROM report_portfolio_facts"  # noqa: S608 - constant
        " WHERE initiatives <> 0 OR poc_spend_usd <> 0 OR provisioning_usd <> 0"
    )
    summed = await conn.fetch(
        f"SELECT {keys}, count(*)::int, sum(poc_spend_usd), sum(provisioning_usd)"  # noqa: S608 - constant
        f" FROM report_initiative_facts GROUP BY {keys}"
    )
    assert {tuple(r.values()) for r in portfolio} == {tuple(r.values()) for r in summed}
    month = "date_trunc('month', submitted_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    cohorts = await conn.fetch("SELECT * FROM report_cohort_counts WHERE initiatives <> 0")
    grouped = await conn.fetch(
        f"SELECT {month}, reached, scrapped, stage NOT IN ('production', 'scrapped'), count(*)::int"  # noqa: S608
        " FROM report_initiative_facts GROUP BY 1, 2, 3, 4"
    )
    assert {tuple(r.values()) for r in cohorts} == {tuple(r.values()) for r in grouped}
    days = await conn.fetch("SELECT * FROM report_cohort_production_days WHERE initiatives <> 0")
    grouped = await conn.fetch(
        f"SELECT {month}, floor(extract(epoch FROM production_at - submitted_at) / 86400)::int,"  # noqa: S608
        " count(*)::int FROM report_initiative_facts WHERE production_at IS NOT NULL GROUP BY 1, 2"
    )
    assert {tuple(r.values()) for r in days} == {tuple(r.values()) for r in grouped}
    stall_months = await conn.fetch("SELECT * FROM report_stall_months WHERE stalls <> 0")
    stalls = await conn.fetch(
        f"SELECT {month}, date_trunc('month', started_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',"  # noqa: S608
        " family, code, count(*)::int FROM report_stall_episodes GROUP BY 1, 2, 3, 4"
    )
    assert {tuple(r.values()) for r in stall_months} == {tuple(r.values()) for r in stalls}
    # and the same per team and business unit (migration 0015)
    team_cohorts = await conn.fetch("SELECT * FROM report_team_cohort_counts WHERE initiatives <> 0")
    grouped = await conn.fetch(
        f"SELECT team, business_unit, {month}, reached, scrapped, stage NOT IN ('production', 'scrapped'),"  # noqa: S608
        " count(*)::int FROM report_initiative_facts GROUP BY 1, 2, 3, 4, 5, 6"
    )
    assert grouped
    assert {tuple(r.values()) for r in team_cohorts} == {tuple(r.values()) for r in grouped}
    team_days = await conn.fetch("SELECT * FROM report_team_cohort_production_days WHERE initiatives <> 0")
    grouped = await conn.fetch(
        f"SELECT team, business_unit, {month},"  # noqa: S608
        " floor(extract(epoch FROM production_at - submitted_at) / 86400)::int, count(*)::int"
        " FROM report_initiative_facts WHERE production_at IS NOT NULL GROUP BY 1, 2, 3, 4"
    )
    assert {tuple(r.values()) for r in team_days} == {tuple(r.values()) for r in grouped}
    team_stalls = await conn.fetch("SELECT * FROM report_team_stall_months WHERE stalls <> 0")
    grouped = await conn.fetch(
        f"SELECT team, business_unit, {month},"  # noqa: S608
        " date_trunc('month', started_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', family, code, count(*)::int"
        " FROM report_stall_episodes GROUP BY 1, 2, 3, 4, 5, 6"
    )
    assert {tuple(r.values()) for r in team_stalls} == {tuple(r.values()) for r in grouped}
    return counts


async def record(conn: Connection, walk: Walk, events: slice, *, team: str, status: InitiativeStatus) -> int:
    """Record a slice of a walk's events as one batch, with the snapshot after its last event."""
    batch = walk.events[events]
    snap = InitiativeSnapshot(
        initiative_id=walk.iid,
        workflow_id=f"initiative-{walk.iid}",
        spec=make_spec(team=team, business_unit=f"bu-{team}"),
        submitter=SUBMITTER,
        policy_version=POLICY,
        stage=batch[-1].stage,
        status=status,
        stage_entered_at=walk.stage_entered_at,
        awaiting_roles=[],
        submitted_at=T0,
    )
    return await events_repo.record_events(conn, RecordEventsInput(events=batch, snapshot=snap))


async def test_every_write_leaves_the_rollups_equal_to_their_sources(conn: Connection) -> None:
    p = await seed(conn)

    counts = await assert_rollups_match_sources(conn, list(p.ids.values()))

    # eleven initiatives; the stalls of a, b, d, e, f, g, i and j (j stalled twice); the visits of
    # non-terminal stages: a 5, b 7 (poc and infra_review twice), c 2, d 2, e 3, f 4, g 2, h 1, i 2, j 2, k 5
    assert counts == {"report_initiative_facts": 11, "report_stall_episodes": 9, "report_stage_visits": 35}


async def test_a_rebuild_gives_the_rows_the_writes_gave(conn: Connection) -> None:
    p = await seed(conn)
    ids = list(p.ids.values())
    written = {table: await rollup_rows(conn, table, ids) for table in ROLLUPS}

    await rollups_repo.rebuild(conn)

    assert {table: await rollup_rows(conn, table, ids) for table in ROLLUPS} == written


async def test_a_stall_and_a_visit_that_end_in_a_later_batch_are_updated(conn: Connection) -> None:
    team = f"team-{uuid.uuid4().hex[:8]}"
    walk = _start(f"late-{uuid.uuid4().hex[:8]}", T0)
    walk.wait(DAY).stall(ReasonCode.APPROVAL_PENDING)
    first = len(walk.events)
    walk.wait(DAY).clear(ReasonCode.APPROVAL_PENDING, 86_400).advance(Stage.POC)

    await record(conn, walk, slice(0, first), team=team, status=InitiativeStatus.STALLED)
    scope = ReportFilters(team=team)
    [open_stall] = (await reports_repo.stall_reasons(conn, scope)).model_dump(mode="json")["rows"]
    proposed = (await reports_repo.time_in_stage(conn, scope)).model_dump(mode="json")["rows"][0]
    assert open_stall["total_stalled_seconds"] > 300 * 86_400, "still open: counted up to now"
    assert (proposed["completed_visits"], proposed["open_visits"]) == (0, 1)

    assert await record(conn, walk, slice(first, None), team=team, status=InitiativeStatus.ACTIVE) == 5

    [cleared] = (await reports_repo.stall_reasons(conn, scope)).model_dump(mode="json")["rows"]
    assert (cleared["stalls"], cleared["initiatives"], cleared["total_stalled_seconds"]) == (1, 1, 86_400.0)
    proposed, poc = (await reports_repo.time_in_stage(conn, scope)).model_dump(mode="json")["rows"][:2]
    assert (proposed["completed_visits"], proposed["p50_seconds"], proposed["open_visits"]) == (1, 2 * 86_400.0, 0)
    assert (poc["completed_visits"], poc["open_visits"]) == (0, 1)
    funnel = (await reports_repo.funnel(conn, scope)).model_dump(mode="json")
    assert [(s["stage"], s["reached"], s["advanced"]) for s in funnel["stages"][:3]] == [
        ("proposed", 1, 1),
        ("poc", 1, 0),
        ("infra_review", 0, 0),
    ]
    await assert_rollups_match_sources(conn, [walk.iid])


async def test_a_retried_batch_changes_no_rollup_row(conn: Connection) -> None:
    team = f"team-{uuid.uuid4().hex[:8]}"
    walk = _start(f"retry-{uuid.uuid4().hex[:8]}", T0)
    walk.wait(DAY).advance(Stage.POC).wait(DAY).scrap(ReasonCode.BUDGET_CUT)
    await record(conn, walk, slice(None), team=team, status=InitiativeStatus.SCRAPPED)
    before = {table: await rollup_rows(conn, table, [walk.iid]) for table in ROLLUPS}

    assert await record(conn, walk, slice(None), team=team, status=InitiativeStatus.SCRAPPED) == 0

    assert {table: await rollup_rows(conn, table, [walk.iid]) for table in ROLLUPS} == before
    await assert_rollups_match_sources(conn, [walk.iid])
    [row] = (await reports_repo.scrap_reasons(conn, ReportFilters(team=team))).model_dump(mode="json")["rows"]
    assert (row["code"], row["stage"], row["initiatives"]) == ("BUDGET_CUT", "poc", 1)


@pytest.mark.parametrize("resource_first", [False, True], ids=["scrapped-then-provisioned", "provisioned-first"])
async def test_builtin_provisioning_reaches_the_sunk_cost(pool: asyncpg.Pool, resource_first: bool) -> None:
    # commits: the provision activity works on the pool, as in the worker; the team is new, so nothing else is in scope
    team = f"team-{uuid.uuid4().hex[:8]}"
    walk = _start(f"cost-{uuid.uuid4().hex[:8]}", T0)
    walk.wait(DAY).advance(Stage.POC).wait(DAY).scrap(ReasonCode.POC_CRITERIA_NOT_MET)
    activities, env = ProvisioningActivities(BuiltinProvisioner(pool), ledger=pool), ActivityEnvironment()
    resource = ProvisionInput(
        initiative_id=walk.iid,
        idempotency_key=f"key-{walk.iid}",
        environment="sandbox",
        gpu_type="nvidia-l4",
        gpu_count=1,
        storage_tb=1,
        budget_usd=750.25,
    )
    async with pool.acquire() as c:
        await record(c, walk, slice(0, 2), team=team, status=InitiativeStatus.ACTIVE)
        if resource_first:
            await env.run(activities.provision, resource)
        await record(c, walk, slice(2, None), team=team, status=InitiativeStatus.SCRAPPED)
        if not resource_first:
            await env.run(activities.provision, resource)
        # provisioning again with the same key is the same resource: its cost counts once
        await env.run(activities.provision, resource)

        report = (await reports_repo.sunk_cost(c, ReportFilters(team=team))).model_dump(mode="json")

        assert report["rows"] == [
            {
                "family": "BUSINESS",
                "code": "POC_CRITERIA_NOT_MET",
                "stage": "poc",
                "initiatives": 1,
                "poc_spend_usd": 0.0,
                "provisioning_usd": 750.25,
                "total_usd": 750.25,
            }
        ]
        await assert_rollups_match_sources(c, [walk.iid])


@pytest.mark.parametrize("name", list(reports_repo.REPORTS))
async def test_the_whole_portfolio_reads_the_same_numbers_as_a_count_of_every_row(conn: Connection, name: str) -> None:
    await seed(conn)
    report = reports_repo.REPORTS[name]
    whole = (await report(conn, ReportFilters())).model_dump(mode="json")
    scanned = await row_by_row(conn, name)

    # the same rows picked and interpolated the same way; only float sums may differ in the last bits (the
    # whole portfolio's are summed as numeric, in another order); now() is the transaction's start in both
    assert_close(whole, scanned)
    nobody = (await report(conn, ReportFilters(team="nobody"))).model_dump(mode="json")
    assert json.dumps(whole) != json.dumps(nobody), "not vacuous"


async def test_the_whole_portfolio_time_in_stage_picks_the_same_visits(conn: Connection) -> None:
    await seed(conn)
    whole = (await reports_repo.time_in_stage(conn, ReportFilters())).model_dump(mode="json")["rows"]
    scanned = (await row_by_row(conn, "time-in-stage"))["rows"]

    assert sum(r["completed_visits"] for r in whole) >= 30, "at least the seeded portfolio"
    exact = ("stage", "completed_visits", "p50_seconds", "p90_seconds", "max_seconds", "open_visits", "stalls")
    assert [{k: r[k] for k in exact} for r in whole] == [{k: r[k] for k in exact} for r in scanned]


async def test_concurrent_writers_keep_the_per_day_counts(pool: asyncpg.Pool) -> None:
    # commits: ten initiatives written at once, each in three batches, contend for the same per-day rows
    team = f"team-{uuid.uuid4().hex[:8]}"
    walks = []
    for n in range(10):
        walk = _start(f"busy-{n}-{uuid.uuid4().hex[:8]}", T0)
        walk.wait(DAY * (n + 1)).advance(Stage.POC).wait(DAY).stall(ReasonCode.POC_RESULTS_MISSING)
        walk.wait(DAY).clear(ReasonCode.POC_RESULTS_MISSING, 86_400).advance(Stage.INFRA_REVIEW)
        walks.append(walk)

    async def write(walk: Walk) -> None:
        cuts = (0, 3, 8, len(walk.events))
        for start, end in itertools.pairwise(cuts):
            async with pool.acquire() as c:
                await record(c, walk, slice(start, end), team=team, status=InitiativeStatus.ACTIVE)

    await asyncio.gather(*(write(w) for w in walks))

    await assert_rollups_match_sources(pool, [w.iid for w in walks])
    rows = (await reports_repo.time_in_stage(pool, ReportFilters(team=team))).model_dump(mode="json")["rows"]
    assert [(r["stage"], r["completed_visits"], r["open_visits"]) for r in rows[:3]] == [
        ("proposed", 10, 0),
        ("poc", 10, 0),
        ("infra_review", 0, 10),
    ]


async def test_odd_rows_loaded_around_liftoff_read_the_same_from_counters_and_rows(conn: Connection) -> None:
    # a visit that ends before it begins and a scrap without a reason: the workflow never writes either, but a
    # restore or a COPY may, and the whole portfolio's counters must still agree with the rows
    team = f"team-{uuid.uuid4().hex[:8]}"
    backwards = _start(f"odd-{uuid.uuid4().hex[:8]}", T0)
    backwards.wait(DAY).advance(Stage.POC).wait(-2 * DAY).advance(Stage.INFRA_REVIEW)
    unexplained = _start(f"odd-{uuid.uuid4().hex[:8]}", T0)
    unexplained.wait(DAY).advance(Stage.POC).wait(DAY).emit(EventKind.SCRAPPED, Stage.POC, None, {"via": "import"})
    for walk, status in ((backwards, InitiativeStatus.ACTIVE), (unexplained, InitiativeStatus.SCRAPPED)):
        await record(conn, walk, slice(None), team=team, status=status)
    for name in ("time-in-stage", "scrap-reasons", "sunk-cost", "funnel"):
        report = reports_repo.REPORTS[name]
        assert_close((await report(conn, ReportFilters())).model_dump(mode="json"), await row_by_row(conn, name), name)
    [poc] = [
        r
        for r in (await reports_repo.time_in_stage(conn, ReportFilters(team=team))).model_dump(mode="json")["rows"]
        if r["stage"] == "poc"
    ]
    assert (poc["completed_visits"], poc["open_visits"], poc["max_seconds"]) == (2, 0, 86_400.0)
    [scrap] = (await reports_repo.scrap_reasons(conn, ReportFilters(team=team))).model_dump(mode="json")["rows"]
    assert (scrap["family"], scrap["code"], scrap["stage"], scrap["initiatives"]) == (None, None, "poc", 1)
    await assert_rollups_match_sources(conn, [backwards.iid, unexplained.iid])


async def test_cohorts_from_the_counters_equal_the_cohorts_counted_team_by_team(conn: Connection) -> None:
    """The whole portfolio (counters for whole months, rows at a window's ends) against every team's rows."""
    await seed(conn)
    # and submissions over five months, so that windows have whole months and partial ones
    for n in range(10):
        submitted = datetime(2025, 3 + n // 2, 1 + 9 * (n % 2), 12, tzinfo=UTC)
        walk = _start(f"cohort-{uuid.uuid4().hex[:10]}", submitted).wait(timedelta(days=2)).advance(Stage.POC)
        if n % 3 == 0:
            walk.wait(timedelta(days=40)).stall(ReasonCode.DATA_ACCESS_BLOCKED)
        if n % 4 == 1:
            walk.wait(timedelta(days=5)).scrap(ReasonCode.BUDGET_CUT)
        await _record(
            conn,
            walk,
            team=f"cohort-team-{n % 3}",
            bu="cohort-bu",
            procurement=Procurement.SEPARATE,
            target=DeploymentTarget.PUBLIC_CLOUD,
            submitted_at=submitted,
        )
    teams = [r["team"] for r in await conn.fetch("SELECT DISTINCT team FROM report_initiative_facts")]
    first = await conn.fetchval("SELECT min(submitted_at) FROM report_initiative_facts")
    last = await conn.fetchval("SELECT max(submitted_at) FROM report_initiative_facts")
    middle = first + (last - first) / 2
    windows = [
        ReportFilters(),
        ReportFilters(since=first + (middle - first) / 3),  # starts inside a month
        ReportFilters(since=first, until=middle),
        # ends on the start of the month after the first submission's
        ReportFilters(until=(datetime(first.year, first.month, 1, tzinfo=UTC) + timedelta(days=32)).replace(day=1)),
    ]
    for window in windows:
        whole = await reports_repo.cohorts(conn, window, "month")
        assert whole.rows, window  # not vacuous
        summed: dict[str, dict[str, int]] = {}
        stalls: dict[tuple[str, str | None, str | None], int] = {}
        for team in teams:
            part = await reports_repo.cohorts(conn, window.model_copy(update={"team": team}), "month")
            for row in part.rows:
                into = summed.setdefault(row.period, {})
                for key, value in row.model_dump().items():
                    if isinstance(value, int) and key != "period":
                        into[key] = into.get(key, 0) + value
            for s in part.stall_reasons:
                stalls[s.period, s.family, s.code] = stalls.get((s.period, s.family, s.code), 0) + s.stalls
        counted = {
            r.period: {k: v for k, v in r.model_dump().items() if isinstance(v, int) and k != "period"}
            for r in whole.rows
        }
        assert counted == summed, window
        assert {(s.period, s.family, s.code): s.stalls for s in whole.stall_reasons} == stalls, window
