"""The reports over a small seeded portfolio whose every number is known, each test in a rolled-back transaction.

Other tests commit rows into the same database, so every portfolio gets a team and business units of its own
and every query is scoped by one of them.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from db import events_repo, reports_repo, rollups_repo
from schemas.classification import DeploymentTarget, Procurement
from schemas.events import EventKind, InitiativeSnapshot, LifecycleEvent, RecordEventsInput
from schemas.reports import REPORT_NAMES, ReportFilters
from schemas.stages import InitiativeStatus, Stage
from schemas.taxonomy import ReasonCode
from tests.conftest import SUBMITTER, make_spec
from tests.db.test_events_repo import POLICY, T0, Connection, conn, event

__all__ = ["conn"]  # the fixture, re-used from the repository tests

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
D = 86_400.0  # seconds in a day


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Walk:
    """The events of one initiative, written in the order they happen on a clock that only moves forward."""

    iid: str
    at: datetime
    events: list[LifecycleEvent] = field(default_factory=list)
    stage: Stage = Stage.PROPOSED
    stage_entered_at: datetime = T0

    def wait(self, delta: timedelta) -> Walk:
        self.at += delta
        return self

    def emit(
        self, kind: EventKind, stage: Stage, reason: ReasonCode | None = None, data: dict[str, Any] | None = None
    ) -> Walk:
        self.events.append(
            event(self.iid, len(self.events) + 1, kind, stage, at=self.at, reason_code=reason, data=data)
        )
        return self

    def enter(self, stage: Stage) -> Walk:
        self.stage, self.stage_entered_at = stage, self.at
        self.emit(EventKind.STAGE_ENTERED, stage)
        if stage is Stage.POC:
            self.emit(EventKind.SANDBOX_PROVISIONED, stage, data={"ref": f"sb-{self.iid}-{len(self.events)}"})
        return self

    def advance(self, to: Stage) -> Walk:
        self.emit(EventKind.APPROVED, self.stage)
        self.emit(EventKind.STAGE_LEFT, self.stage, data={"outcome": "advanced"})
        if to is Stage.PRODUCTION:
            self.stage, self.stage_entered_at = to, self.at
            return self.emit(EventKind.STAGE_ENTERED, to).emit(EventKind.PRODUCTION, to)
        return self.enter(to)

    def send_back(self, to: Stage, reason: ReasonCode) -> Walk:
        self.emit(EventKind.STAGE_LEFT, self.stage, reason, {"outcome": "sent_back", "to": to.value})
        return self.enter(to)

    def stall(self, reason: ReasonCode) -> Walk:
        return self.emit(EventKind.STALLED, self.stage, reason)

    def clear(self, reason: ReasonCode, seconds: float) -> Walk:
        return self.emit(EventKind.STALL_CLEARED, self.stage, reason, {"stalled_seconds": seconds})

    def poc_results(self, spend_usd: float) -> Walk:
        return self.emit(EventKind.POC_RESULTS_SUBMITTED, Stage.POC, data={"spend_usd": spend_usd, "met": True})

    def scrap(self, reason: ReasonCode, stalled_seconds: float = 0) -> Walk:
        data: dict[str, Any] = {"via": "scrapped"}
        if stalled_seconds:
            data["stalled_seconds"] = stalled_seconds
        self.emit(EventKind.SCRAPPED, self.stage, reason, data)
        self.stage, self.stage_entered_at = Stage.SCRAPPED, self.at
        return self


@dataclass(frozen=True)
class Portfolio:
    """Who is who in the seeded portfolio."""

    team: str
    other_team: str
    bu: str
    finance_bu: str
    ids: dict[str, str]


async def _record(
    conn: Connection,
    walk: Walk,
    *,
    team: str,
    bu: str,
    procurement: Procurement,
    target: DeploymentTarget,
    submitted_at: datetime,
    status: InitiativeStatus | None = None,
    awaiting_roles: list[str] | None = None,
    poc_spend_usd: float = 0,
    title: str | None = None,
) -> None:
    base = make_spec()
    spec = make_spec(
        title=title or f"Initiative {walk.iid}",
        team=team,
        business_unit=bu,
        procurement=procurement,
        infrastructure=base.infrastructure.model_copy(update={"deployment_target": target}),
    )
    terminal = {Stage.PRODUCTION: InitiativeStatus.PRODUCTION, Stage.SCRAPPED: InitiativeStatus.SCRAPPED}
    scrap_reason = walk.events[-1].reason_code if walk.stage is Stage.SCRAPPED else None
    snap = InitiativeSnapshot(
        initiative_id=walk.iid,
        workflow_id=f"initiative-{walk.iid}",
        spec=spec,
        submitter=SUBMITTER,
        policy_version=POLICY,
        stage=walk.stage,
        status=status or terminal.get(walk.stage, InitiativeStatus.ACTIVE),
        stage_entered_at=walk.stage_entered_at,
        awaiting_roles=awaiting_roles or [],
        reason_code=scrap_reason,
        submitted_at=submitted_at,
        poc_spend_usd=poc_spend_usd,
    )
    inserted = await events_repo.record_events(conn, RecordEventsInput(events=walk.events, snapshot=snap))
    assert inserted == len(walk.events)


async def _provisioned(conn: Connection, iid: str, *costs: float) -> None:
    for n, cost in enumerate(costs):
        ref = f"res-{iid}-{n}"
        await conn.execute(
            "INSERT INTO provisioned_resources (ref, idempotency_key, initiative_id, provider, environment, status,"
            " cost_usd) VALUES ($1, $2, $3, 'builtin', 'poc', 'ready', $4)",
            ref,
            f"key-{ref}",
            iid,
            cost,
        )
    # as the built-in provisioner does in the same transaction: the cost reaches the sunk cost rollup
    await rollups_repo.refresh(conn, iid)


def _start(iid: str, submitted_at: datetime) -> Walk:
    walk = Walk(iid, submitted_at)
    walk.emit(EventKind.SUBMITTED, Stage.PROPOSED)
    return walk.enter(Stage.PROPOSED)


@dataclass(frozen=True)
class Shape:
    """What the seeded portfolio knows about an initiative besides its events."""

    submitted_day: int
    procurement: Procurement
    target: DeploymentTarget
    finance: bool = False
    other_team: bool = False
    status: InitiativeStatus | None = None
    awaiting_roles: tuple[str, ...] = ()
    poc_spend_usd: float = 0
    resources: tuple[float, ...] = ()


_IT, _SEP = Procurement.IT_PLAN, Procurement.SEPARATE
_CLOUD, _ON_PREM, _HYBRID = DeploymentTarget.PUBLIC_CLOUD, DeploymentTarget.ON_PREM, DeploymentTarget.HYBRID
_OWNER = ("business_owner",)
SHAPES: dict[str, Shape] = {
    "a": Shape(0, _IT, _CLOUD, poc_spend_usd=1000, resources=(300,)),
    "b": Shape(1, _IT, _ON_PREM, poc_spend_usd=1200),
    "c": Shape(2, _SEP, _CLOUD, poc_spend_usd=2000, resources=(400, 100)),
    "d": Shape(3, _SEP, _HYBRID, finance=True, resources=(250,)),
    "e": Shape(4, _SEP, _ON_PREM, poc_spend_usd=1500, resources=(500,)),
    "f": Shape(5, _IT, _CLOUD, poc_spend_usd=800),
    "g": Shape(10, _IT, _CLOUD, status=InitiativeStatus.STALLED, awaiting_roles=_OWNER),
    "h": Shape(20, _IT, _HYBRID, finance=True, awaiting_roles=("portfolio",)),
    "i": Shape(6, _SEP, _ON_PREM, status=InitiativeStatus.ON_HOLD, awaiting_roles=_OWNER, resources=(75,)),
    "j": Shape(7, _SEP, _HYBRID, poc_spend_usd=300, resources=(250.5,)),
    "k": Shape(0, _IT, _CLOUD, other_team=True, resources=(1000,)),
}


def _done_paths(ids: dict[str, str]) -> dict[str, Walk]:
    """The initiatives that reached production or were scrapped."""
    ap, prm = ReasonCode.APPROVAL_PENDING, ReasonCode.POC_RESULTS_MISSING
    sec = ReasonCode.SECURITY_FINDINGS_OPEN
    w = {key: _start(ids[key], T0 + SHAPES[key].submitted_day * DAY) for key in "abcdefjk"}
    w["a"].wait(DAY).stall(ap).wait(2 * HOUR).clear(ap, 7200).wait(DAY - 2 * HOUR).advance(Stage.POC)
    w["a"].wait(2 * DAY).poc_results(1000).wait(3 * DAY).advance(Stage.INFRA_REVIEW).wait(3 * DAY)
    w["a"].advance(Stage.IT_SIGNOFF).wait(DAY).advance(Stage.ROLLOUT).wait(DAY).advance(Stage.PRODUCTION)
    w["b"].wait(12 * HOUR).stall(ap).wait(3 * HOUR).clear(ap, 10800).wait(9 * HOUR).advance(Stage.POC)
    w["b"].wait(4 * DAY).poc_results(500).advance(Stage.INFRA_REVIEW)
    w["b"].wait(2 * DAY).send_back(Stage.POC, ReasonCode.SCALABILITY_UNPROVEN)
    w["b"].wait(3 * DAY).poc_results(700).advance(Stage.INFRA_REVIEW).wait(2 * DAY).advance(Stage.IT_SIGNOFF)
    w["b"].wait(2 * DAY).advance(Stage.ROLLOUT).wait(DAY).advance(Stage.PRODUCTION)
    w["c"].wait(DAY).advance(Stage.POC).wait(6 * DAY).poc_results(2000).scrap(ReasonCode.POC_CRITERIA_NOT_MET)
    w["d"].wait(DAY).advance(Stage.POC).wait(10 * DAY).stall(prm)
    w["d"].wait(90 * DAY).scrap(ReasonCode.ABANDONED, stalled_seconds=90 * D)
    w["e"].wait(3 * DAY).advance(Stage.POC).wait(5 * DAY).poc_results(1500).advance(Stage.INFRA_REVIEW)
    w["e"].wait(DAY).stall(ReasonCode.CAPACITY_QUOTA_UNAVAILABLE)
    w["e"].wait(2 * DAY).scrap(ReasonCode.PLATFORM_MISALIGNED, stalled_seconds=2 * D)
    w["f"].wait(DAY).advance(Stage.POC).wait(2 * DAY).poc_results(800).advance(Stage.INFRA_REVIEW)
    w["f"].wait(2 * DAY).advance(Stage.IT_SIGNOFF)
    w["f"].wait(DAY).stall(sec).wait(DAY).clear(sec, D).wait(2 * DAY).scrap(ReasonCode.BUDGET_CUT)
    w["j"].wait(2 * DAY).advance(Stage.POC).wait(5 * DAY).stall(prm).wait(DAY).clear(prm, D)
    w["j"].wait(4 * DAY).stall(ReasonCode.DATA_ACCESS_BLOCKED).poc_results(300)
    w["j"].wait(60 * DAY).scrap(ReasonCode.ABANDONED, stalled_seconds=60 * D)
    w["k"].wait(DAY).advance(Stage.POC).wait(DAY).advance(Stage.INFRA_REVIEW).wait(DAY).advance(Stage.IT_SIGNOFF)
    w["k"].wait(DAY).advance(Stage.ROLLOUT).wait(DAY).advance(Stage.PRODUCTION)
    return w


def _open_paths(ids: dict[str, str]) -> dict[str, Walk]:
    """The initiatives still on their way."""
    ap = ReasonCode.APPROVAL_PENDING
    w = {key: _start(ids[key], T0 + SHAPES[key].submitted_day * DAY) for key in "ghi"}
    w["g"].wait(2 * DAY).advance(Stage.POC).wait(14 * DAY).stall(ap)
    w["g"].wait(7 * DAY).emit(EventKind.ESCALATED, Stage.POC, ap, {"level": 1})
    w["g"].wait(7 * DAY).emit(EventKind.ESCALATED, Stage.POC, ap, {"level": 2})
    w["i"].wait(DAY).advance(Stage.POC).wait(14 * DAY).stall(ReasonCode.OWNERSHIP_UNCLEAR)
    w["i"].wait(DAY).emit(EventKind.HELD, Stage.POC, ReasonCode.BIZ_PRIORITY_CHANGED)
    return w


async def seed(conn: Connection) -> Portfolio:
    """Ten initiatives of one team (and one of another team) with known paths, stalls and costs.

    ====  ================================================================  ============  ==============  =======
    key   path (days in each stage)                                          procurement   target          BU
    ====  ================================================================  ============  ==============  =======
    a     proposed 2 (stall 2 h) > poc 5 > infra 3 > signoff 1 > rollout 1   it_plan       public_cloud    bu
    b     proposed 1 (stall 3 h) > poc 4 > infra 2, sent back > poc 3 >       it_plan       on_prem         bu
          infra 2 > signoff 2 > rollout 1 > production
    c     proposed 1 > poc 6, scrapped POC_CRITERIA_NOT_MET                   separate      public_cloud    bu
    d     proposed 1 > poc 100 (stall POC_RESULTS_MISSING 90 d), ABANDONED    separate      hybrid          finance
    e     proposed 3 > poc 5 > infra 3 (stall CAPACITY 2 d), scrapped         separate      on_prem         bu
          PLATFORM_MISALIGNED
    f     proposed 1 > poc 2 > infra 2 > signoff 4 (stall SECURITY 1 d,       it_plan       public_cloud    bu
          cleared), scrapped BUDGET_CUT
    g     proposed 2 > poc, stalled APPROVAL_PENDING since day 14, twice      it_plan       public_cloud    bu
          escalated (stalled now)
    h     proposed (active)                                                   it_plan       hybrid          finance
    i     proposed 1 > poc, stalled OWNERSHIP_UNCLEAR since day 14, then on   separate      on_prem         bu
          hold (stalled now)
    j     proposed 2 > poc 70 (stall POC_RESULTS_MISSING 1 d cleared, stall   separate      hybrid          bu
          DATA_ACCESS_BLOCKED 60 d), ABANDONED
    k     other team: proposed 1 > poc 1 > ... > production                  it_plan       public_cloud    bu
    ====  ================================================================  ============  ==============  =======
    """
    p = Portfolio(
        team=_unique("team"),
        other_team=_unique("team"),
        bu=_unique("bu"),
        finance_bu=_unique("finance"),
        ids={key: f"{key}-{uuid.uuid4().hex[:12]}" for key in SHAPES},
    )
    walks = _done_paths(p.ids) | _open_paths(p.ids)
    for key, shape in SHAPES.items():
        await _record(
            conn,
            walks[key],
            team=p.other_team if shape.other_team else p.team,
            bu=p.finance_bu if shape.finance else p.bu,
            procurement=shape.procurement,
            target=shape.target,
            submitted_at=T0 + shape.submitted_day * DAY,
            status=shape.status,
            awaiting_roles=list(shape.awaiting_roles),
            poc_spend_usd=shape.poc_spend_usd,
        )
        await _provisioned(conn, p.ids[key], *shape.resources)
    return p


def percentile_cont(values: list[float], fraction: float) -> float:
    """PostgreSQL's ``percentile_cont``: linear interpolation between the closest ranks."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    lower = int(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (position - lower) * (ordered[upper] - ordered[lower])


# ------------------------------------------------------------------ the contract


def test_reports_are_keyed_by_the_public_report_names() -> None:
    assert tuple(reports_repo.REPORTS) == REPORT_NAMES


async def test_every_report_is_json_ready(conn: Connection) -> None:
    p = await seed(conn)
    for name, report in reports_repo.REPORTS.items():
        model = await report(conn, ReportFilters(team=p.team))
        data = model.model_dump(mode="json")
        # json.dumps refuses Decimal and datetime: what comes back is what the API sends
        assert json.loads(json.dumps(data)) == data, name
        # and the JSON reads back as the same report (no field lost or renamed on the way)
        assert type(model).model_validate(data) == model, name


async def test_reports_accept_a_pool(pool: asyncpg.Pool) -> None:
    # Nothing of ours is committed, so through the pool a fresh team has nothing in any report.
    team = _unique("team")
    funnel = (await reports_repo.funnel(pool, ReportFilters(team=team))).model_dump(mode="json")
    assert funnel["total"] == 0
    stalled = (await reports_repo.stalled_now(pool, ReportFilters(team=team))).model_dump(mode="json")
    assert stalled == {"rows": []}


# ------------------------------------------------------------------ funnel


async def test_funnel_counts_each_initiative_once_per_stage(conn: Connection) -> None:
    p = await seed(conn)

    report = (await reports_repo.funnel(conn, ReportFilters(team=p.team))).model_dump(mode="json")

    assert report["total"] == 10
    assert report["stages"] == [
        {"stage": "proposed", "reached": 10, "advanced": 9, "scrapped": 0},
        # b entered the PoC twice (sent back from infra review) and left it forward twice: counted once
        {"stage": "poc", "reached": 9, "advanced": 4, "scrapped": 3},
        # b's first infra review visit was sent back, its second advanced
        {"stage": "infra_review", "reached": 4, "advanced": 3, "scrapped": 1},
        {"stage": "it_signoff", "reached": 3, "advanced": 2, "scrapped": 1},
        {"stage": "rollout", "reached": 2, "advanced": 2, "scrapped": 0},
        {"stage": "production", "reached": 2, "advanced": 0, "scrapped": 0},
    ]
    assert report["entered_poc"] == 9
    assert report["scrapped_in_poc"] == 3
    assert report["entered_infra_review"] == 4
    assert report["scrapped_after_poc"] == 2
    assert report["reached_production"] == 2
    assert report["poc_abandonment_rate"] == 3 / 9
    assert report["post_poc_scrap_rate"] == 2 / 4
    assert report["pilot_to_production_rate"] == 2 / 9
    assert report["base_rates"] == {
        "poc_abandonment_rate": 0.39,
        "post_poc_scrap_rate": 0.46,
        "pilot_to_production_rate": 0.33,
    }


async def test_funnel_re_entry_is_really_a_second_visit(conn: Connection) -> None:
    p = await seed(conn)

    visits = await conn.fetch(
        "SELECT stage, visit, outcome FROM stage_intervals"
        " WHERE initiative_id = $1 AND stage IN ('poc', 'infra_review') ORDER BY entered_at, visit",
        p.ids["b"],
    )

    assert [tuple(v) for v in visits] == [
        ("poc", 1, "advanced"),
        ("infra_review", 1, "sent_back"),
        ("poc", 2, "advanced"),
        ("infra_review", 2, "advanced"),
    ]
    only_b = (
        await reports_repo.funnel(conn, ReportFilters(team=p.team, since=T0 + DAY, until=T0 + 2 * DAY))
    ).model_dump(mode="json")
    assert only_b["total"] == 1
    assert [(s["stage"], s["reached"], s["advanced"]) for s in only_b["stages"]] == [
        ("proposed", 1, 1),
        ("poc", 1, 1),
        ("infra_review", 1, 1),
        ("it_signoff", 1, 1),
        ("rollout", 1, 1),
        ("production", 1, 0),
    ]


async def test_funnel_filters_by_business_unit(conn: Connection) -> None:
    p = await seed(conn)

    finance = (await reports_repo.funnel(conn, ReportFilters(business_unit=p.finance_bu))).model_dump(mode="json")
    # d (abandoned in the PoC) and h (still proposed)
    assert finance["total"] == 2
    assert (finance["entered_poc"], finance["scrapped_in_poc"], finance["entered_infra_review"]) == (1, 1, 0)
    assert finance["poc_abandonment_rate"] == 1.0
    assert finance["post_poc_scrap_rate"] is None, "nothing entered infra review: no rate"
    assert finance["pilot_to_production_rate"] == 0.0

    # the main business unit also holds k, the other team's initiative that reached production
    main = (await reports_repo.funnel(conn, ReportFilters(business_unit=p.bu))).model_dump(mode="json")
    assert main["total"] == 9
    assert main["reached_production"] == 3
    assert main["entered_poc"] == 9  # the team's nine without d, and k
    assert main["pilot_to_production_rate"] == 3 / 9
    both = (await reports_repo.funnel(conn, ReportFilters(team=p.team, business_unit=p.bu))).model_dump(mode="json")
    assert both["total"] == 8
    assert both["reached_production"] == 2


async def test_funnel_filters_by_submission_time(conn: Connection) -> None:
    p = await seed(conn)

    # since is inclusive, until exclusive: d, e, f and i (submitted on days 3 to 6), not j (day 7)
    window = (
        await reports_repo.funnel(conn, ReportFilters(team=p.team, since=T0 + 3 * DAY, until=T0 + 7 * DAY))
    ).model_dump(mode="json")

    assert window["total"] == 4
    assert window["entered_poc"] == 4
    assert window["scrapped_in_poc"] == 1
    assert window["entered_infra_review"] == 2
    assert window["scrapped_after_poc"] == 2
    assert window["reached_production"] == 0
    assert window["poc_abandonment_rate"] == 1 / 4
    assert window["post_poc_scrap_rate"] == 1.0
    assert window["pilot_to_production_rate"] == 0.0
    since_only = (await reports_repo.funnel(conn, ReportFilters(team=p.team, since=T0 + 10 * DAY))).model_dump(
        mode="json"
    )
    assert since_only["total"] == 2  # g and h
    until_only = (await reports_repo.funnel(conn, ReportFilters(team=p.team, until=T0 + DAY))).model_dump(mode="json")
    assert until_only["total"] == 1  # a
    assert until_only["reached_production"] == 1


async def test_funnel_of_nothing_has_no_rates(conn: Connection) -> None:
    report = (await reports_repo.funnel(conn, ReportFilters(team=_unique("team")))).model_dump(mode="json")

    assert report["total"] == 0
    assert [s["reached"] for s in report["stages"]] == [0] * 6
    assert report["poc_abandonment_rate"] is None
    assert report["post_poc_scrap_rate"] is None
    assert report["pilot_to_production_rate"] is None


# ------------------------------------------------------------------ stall reasons


async def test_stall_reasons_pair_each_stall_with_its_end(conn: Connection) -> None:
    p = await seed(conn)
    before = datetime.now(UTC)

    rows = (await reports_repo.stall_reasons(conn, ReportFilters(team=p.team))).model_dump(mode="json")["rows"]

    after = datetime.now(UTC)
    open_rows = [r for r in rows if r["code"] in ("APPROVAL_PENDING", "OWNERSHIP_UNCLEAR") and r["stage"] == "poc"]
    closed_rows = [r for r in rows if r not in open_rows]
    assert closed_rows == [
        # a (2 h) and b (3 h), both cleared
        {
            "family": "ORGANISATION",
            "code": "APPROVAL_PENDING",
            "stage": "proposed",
            "stalls": 2,
            "initiatives": 2,
            "total_stalled_seconds": 18_000.0,
            "median_stalled_seconds": 9_000.0,
        },
        # d: ended by its abandonment (90 d, from the scrapped event); j: cleared after 1 d
        {
            "family": "TECHNICAL",
            "code": "POC_RESULTS_MISSING",
            "stage": "poc",
            "stalls": 2,
            "initiatives": 2,
            "total_stalled_seconds": 91 * D,
            "median_stalled_seconds": 45.5 * D,
        },
        # j's second stall, ended by its abandonment
        {
            "family": "DATA",
            "code": "DATA_ACCESS_BLOCKED",
            "stage": "poc",
            "stalls": 1,
            "initiatives": 1,
            "total_stalled_seconds": 60 * D,
            "median_stalled_seconds": 60 * D,
        },
        # e: ended by a scrap for another reason, the scrapped event carries the stall's 2 d
        {
            "family": "INFRASTRUCTURE",
            "code": "CAPACITY_QUOTA_UNAVAILABLE",
            "stage": "infra_review",
            "stalls": 1,
            "initiatives": 1,
            "total_stalled_seconds": 2 * D,
            "median_stalled_seconds": 2 * D,
        },
        {
            "family": "RISK_COMPLIANCE",
            "code": "SECURITY_FINDINGS_OPEN",
            "stage": "it_signoff",
            "stalls": 1,
            "initiatives": 1,
            "total_stalled_seconds": D,
            "median_stalled_seconds": D,
        },
    ]
    # g and i are still stalled: their stalls count up to now (the transaction's start)
    by_code = {r["code"]: r for r in open_rows}
    assert list(by_code) == ["APPROVAL_PENDING", "OWNERSHIP_UNCLEAR"], "ties ordered by family, code, stage"
    g_since, i_since = T0 + 10 * DAY + 16 * DAY, T0 + 6 * DAY + 15 * DAY
    for code, since in (("APPROVAL_PENDING", g_since), ("OWNERSHIP_UNCLEAR", i_since)):
        row = by_code[code]
        assert (row["family"], row["stalls"], row["initiatives"]) == ("ORGANISATION", 1, 1)
        assert row["total_stalled_seconds"] == row["median_stalled_seconds"]
        # now() is when the test's transaction began, a moment before ``before``
        assert (before - since).total_seconds() - 600 <= row["total_stalled_seconds"] <= (after - since).total_seconds()
    # most stalls first
    assert [r["stalls"] for r in rows] == [2, 2, 1, 1, 1, 1, 1]


async def test_stall_reasons_follow_the_filters(conn: Connection) -> None:
    p = await seed(conn)

    finance = (await reports_repo.stall_reasons(conn, ReportFilters(business_unit=p.finance_bu))).model_dump(
        mode="json"
    )["rows"]
    assert [(r["code"], r["stage"], r["stalls"], r["total_stalled_seconds"]) for r in finance] == [
        ("POC_RESULTS_MISSING", "poc", 1, 90 * D)
    ]
    early = (await reports_repo.stall_reasons(conn, ReportFilters(team=p.team, until=T0 + 2 * DAY))).model_dump(
        mode="json"
    )["rows"]
    assert [(r["code"], r["stalls"], r["median_stalled_seconds"]) for r in early] == [("APPROVAL_PENDING", 2, 9000.0)]
    other = (await reports_repo.stall_reasons(conn, ReportFilters(team=p.other_team))).model_dump(mode="json")["rows"]
    assert other == []


# ------------------------------------------------------------------ scrap reasons


async def test_scrap_reasons_name_the_stall_behind_an_abandonment(conn: Connection) -> None:
    p = await seed(conn)

    rows = (await reports_repo.scrap_reasons(conn, ReportFilters(team=p.team))).model_dump(mode="json")["rows"]

    assert rows == [
        {"family": "BUSINESS", "code": "POC_CRITERIA_NOT_MET", "stage": "poc", "initiatives": 1},
        {"family": "COST", "code": "BUDGET_CUT", "stage": "it_signoff", "initiatives": 1},
        {"family": "INFRASTRUCTURE", "code": "PLATFORM_MISALIGNED", "stage": "infra_review", "initiatives": 1},
        # j stalled twice: the last stall before the abandonment is the one that counts
        {
            "family": "ORGANISATION",
            "code": "ABANDONED",
            "stage": "poc",
            "underlying_code": "DATA_ACCESS_BLOCKED",
            "initiatives": 1,
        },
        {
            "family": "ORGANISATION",
            "code": "ABANDONED",
            "stage": "poc",
            "underlying_code": "POC_RESULTS_MISSING",
            "initiatives": 1,
        },
    ]


async def test_scrap_reasons_group_and_filter(conn: Connection) -> None:
    p = await seed(conn)
    # one more initiative abandoned after a POC_RESULTS_MISSING stall, submitted on day 8
    extra = Walk(f"x-{uuid.uuid4().hex[:12]}", T0 + 8 * DAY)
    extra.emit(EventKind.SUBMITTED, Stage.PROPOSED).enter(Stage.PROPOSED).wait(DAY).advance(Stage.POC)
    extra.wait(DAY).stall(ReasonCode.POC_RESULTS_MISSING).wait(DAY).scrap(ReasonCode.ABANDONED, stalled_seconds=D)
    await _record(
        conn,
        extra,
        team=p.team,
        bu=p.bu,
        procurement=Procurement.SEPARATE,
        target=DeploymentTarget.HYBRID,
        submitted_at=T0 + 8 * DAY,
    )

    rows = (await reports_repo.scrap_reasons(conn, ReportFilters(team=p.team))).model_dump(mode="json")["rows"]
    assert rows[0] == {
        "family": "ORGANISATION",
        "code": "ABANDONED",
        "stage": "poc",
        "underlying_code": "POC_RESULTS_MISSING",
        "initiatives": 2,
    }
    assert len(rows) == 5
    finance = (await reports_repo.scrap_reasons(conn, ReportFilters(business_unit=p.finance_bu))).model_dump(
        mode="json"
    )["rows"]
    assert [(r["code"], r.get("underlying_code")) for r in finance] == [("ABANDONED", "POC_RESULTS_MISSING")]
    late = (await reports_repo.scrap_reasons(conn, ReportFilters(team=p.team, since=T0 + 5 * DAY))).model_dump(
        mode="json"
    )["rows"]
    assert [(r["code"], r.get("underlying_code"), r["initiatives"]) for r in late] == [
        ("BUDGET_CUT", None, 1),  # f
        ("ABANDONED", "DATA_ACCESS_BLOCKED", 1),  # j
        ("ABANDONED", "POC_RESULTS_MISSING", 1),  # the extra one
    ]


# ------------------------------------------------------------------ time in stage


async def test_time_in_stage_percentiles_per_stage(conn: Connection) -> None:
    p = await seed(conn)

    rows = (await reports_repo.time_in_stage(conn, ReportFilters(team=p.team))).model_dump(mode="json")["rows"]

    completed_days = {
        "proposed": [2, 1, 1, 1, 3, 1, 2, 1, 2],  # a b c d e f g i j; h is still proposed
        "poc": [5, 4, 3, 6, 100, 5, 2, 70],  # b twice; g and i are still in the PoC
        "infra_review": [3, 2, 2, 3, 2],  # b twice (sent back, then advanced)
        "it_signoff": [1, 2, 4],
        "rollout": [1, 1],
    }
    open_visits = {"proposed": 1, "poc": 2, "infra_review": 0, "it_signoff": 0, "rollout": 0}
    assert [r["stage"] for r in rows] == list(completed_days)
    for row in rows:
        seconds = [d * D for d in completed_days[row["stage"]]]
        assert row["completed_visits"] == len(seconds), row["stage"]
        assert row["p50_seconds"] == pytest.approx(percentile_cont(seconds, 0.5)), row["stage"]
        assert row["p90_seconds"] == pytest.approx(percentile_cont(seconds, 0.9)), row["stage"]
        assert row["max_seconds"] == max(seconds), row["stage"]
        assert row["open_visits"] == open_visits[row["stage"]], row["stage"]
    # the same numbers written out, so the reference percentile above cannot hide a mistake
    poc = rows[1]
    assert (poc["p50_seconds"], poc["p90_seconds"], poc["max_seconds"]) == (5 * D, pytest.approx(79 * D), 100 * D)
    proposed = rows[0]
    assert (proposed["p50_seconds"], proposed["p90_seconds"]) == (D, pytest.approx(2.2 * D))
    signoff = rows[3]
    assert (signoff["p50_seconds"], signoff["p90_seconds"]) == (2 * D, pytest.approx(3.6 * D))
    # stall totals of the same visits (open stalls have no duration on record yet)
    assert [(r["stage"], r["stalls"], r["stalled_seconds"]) for r in rows] == [
        ("proposed", 2, 18_000.0),
        ("poc", 5, 90 * D + D + 60 * D),
        ("infra_review", 1, 2 * D),
        ("it_signoff", 1, D),
        ("rollout", 0, 0.0),
    ]


async def test_time_in_stage_follows_the_filters(conn: Connection) -> None:
    p = await seed(conn)

    finance = (await reports_repo.time_in_stage(conn, ReportFilters(business_unit=p.finance_bu))).model_dump(
        mode="json"
    )["rows"]

    assert [(r["stage"], r["completed_visits"], r["p50_seconds"], r["open_visits"]) for r in finance] == [
        ("proposed", 1, D, 1),  # d left after a day; h is still there
        ("poc", 1, 100 * D, 0),
        ("infra_review", 0, None, 0),
        ("it_signoff", 0, None, 0),
        ("rollout", 0, None, 0),
    ]


# ------------------------------------------------------------------ stalled now


async def test_stalled_now_lists_open_stalls_oldest_first(conn: Connection) -> None:
    p = await seed(conn)
    before = datetime.now(UTC)

    rows = (await reports_repo.stalled_now(conn, ReportFilters(team=p.team))).model_dump(mode="json")["rows"]

    g_since, i_since = T0 + 26 * DAY, T0 + 21 * DAY
    assert [(r["id"], r["stage"], r["reason_code"], r["since"], r["escalation_level"]) for r in rows] == [
        # i is on hold, but its stall never ended
        (p.ids["i"], "poc", "OWNERSHIP_UNCLEAR", i_since.isoformat(), 0),
        (p.ids["g"], "poc", "APPROVAL_PENDING", g_since.isoformat(), 2),
    ]
    assert [(r["status"], r["awaiting_roles"], r["team"], r["title"]) for r in rows] == [
        ("on_hold", ["business_owner"], p.team, f"Initiative {p.ids['i']}"),
        ("stalled", ["business_owner"], p.team, f"Initiative {p.ids['g']}"),
    ]
    for row, since in zip(rows, (i_since, g_since), strict=True):
        assert (before - since).total_seconds() - 600 <= row["stalled_seconds"] <= (before - since).total_seconds()


async def test_stalled_now_leaves_out_ended_stalls_and_follows_filters(conn: Connection) -> None:
    p = await seed(conn)
    # an initiative on hold whose stall was cleared before the hold is not stalled
    held = _start(f"y-{uuid.uuid4().hex[:12]}", T0 + 9 * DAY).stall(ReasonCode.APPROVAL_PENDING).wait(HOUR)
    held.clear(ReasonCode.APPROVAL_PENDING, 3600).emit(EventKind.HELD, Stage.PROPOSED, ReasonCode.BIZ_PRIORITY_CHANGED)
    await _record(
        conn,
        held,
        team=p.team,
        bu=p.bu,
        procurement=Procurement.IT_PLAN,
        target=DeploymentTarget.ON_PREM,
        submitted_at=T0 + 9 * DAY,
        status=InitiativeStatus.ON_HOLD,
    )

    rows = (await reports_repo.stalled_now(conn, ReportFilters(team=p.team))).model_dump(mode="json")["rows"]
    assert [r["id"] for r in rows] == [p.ids["i"], p.ids["g"]]
    since_g = (await reports_repo.stalled_now(conn, ReportFilters(team=p.team, since=T0 + 10 * DAY))).model_dump(
        mode="json"
    )["rows"]
    assert [r["id"] for r in since_g] == [p.ids["g"]]
    assert (await reports_repo.stalled_now(conn, ReportFilters(business_unit=p.finance_bu))).model_dump(mode="json")[
        "rows"
    ] == []


# ------------------------------------------------------------------ sunk cost


async def test_sunk_cost_adds_poc_spend_and_provisioning_of_scrapped_initiatives(conn: Connection) -> None:
    p = await seed(conn)

    report = (await reports_repo.sunk_cost(conn, ReportFilters(team=p.team))).model_dump(mode="json")

    assert report["rows"] == [
        # c: 2000 PoC spend + two resources (400 + 100)
        {
            "family": "BUSINESS",
            "code": "POC_CRITERIA_NOT_MET",
            "stage": "poc",
            "initiatives": 1,
            "poc_spend_usd": 2000.0,
            "provisioning_usd": 500.0,
            "total_usd": 2500.0,
        },
        {
            "family": "INFRASTRUCTURE",
            "code": "PLATFORM_MISALIGNED",
            "stage": "infra_review",
            "initiatives": 1,
            "poc_spend_usd": 1500.0,
            "provisioning_usd": 500.0,
            "total_usd": 2000.0,
        },
        # d spent nothing in its PoC and provisioned 250; j spent 300 and provisioned 250.50
        {
            "family": "ORGANISATION",
            "code": "ABANDONED",
            "stage": "poc",
            "initiatives": 2,
            "poc_spend_usd": 300.0,
            "provisioning_usd": 500.5,
            "total_usd": 800.5,
        },
        # f provisioned nothing
        {
            "family": "COST",
            "code": "BUDGET_CUT",
            "stage": "it_signoff",
            "initiatives": 1,
            "poc_spend_usd": 800.0,
            "provisioning_usd": 0.0,
            "total_usd": 800.0,
        },
    ]
    # a, b (production), i (on hold) and k (other team) provisioned too: none of it is sunk
    assert report["total_usd"] == 6100.5


async def test_sunk_cost_follows_the_filters(conn: Connection) -> None:
    p = await seed(conn)

    finance = (await reports_repo.sunk_cost(conn, ReportFilters(business_unit=p.finance_bu))).model_dump(mode="json")
    assert [(r["code"], r["total_usd"]) for r in finance["rows"]] == [("ABANDONED", 250.0)]
    assert finance["total_usd"] == 250.0
    nothing = (await reports_repo.sunk_cost(conn, ReportFilters(team=p.other_team))).model_dump(mode="json")
    assert nothing == {"rows": [], "total_usd": 0.0}


# ------------------------------------------------------------------ alignment


async def test_alignment_by_procurement_and_deployment_target(conn: Connection) -> None:
    p = await seed(conn)

    report = (await reports_repo.alignment(conn, ReportFilters(team=p.team))).model_dump(mode="json")

    assert report["rows"] == [
        # a, b, f, g, h
        {"procurement": "it_plan", "total": 5, "reached_production": 2, "scrapped": 1, "production_rate": 0.4},
        # c, d, e, i, j
        {"procurement": "separate", "total": 5, "reached_production": 0, "scrapped": 4, "production_rate": 0.0},
    ]
    assert report["by_deployment_target"] == [
        # d, h, j
        {"deployment_target": "hybrid", "total": 3, "reached_production": 0, "scrapped": 2, "production_rate": 0.0},
        # b, e, i
        {
            "deployment_target": "on_prem",
            "total": 3,
            "reached_production": 1,
            "scrapped": 1,
            "production_rate": 1 / 3,
        },
        # a, c, f, g
        {
            "deployment_target": "public_cloud",
            "total": 4,
            "reached_production": 1,
            "scrapped": 2,
            "production_rate": 0.25,
        },
    ]


async def test_alignment_follows_the_filters(conn: Connection) -> None:
    p = await seed(conn)

    main_bu = (await reports_repo.alignment(conn, ReportFilters(business_unit=p.bu))).model_dump(mode="json")
    # k (other team, it_plan, public cloud, production) joins the team's it_plan initiatives but h (finance) leaves
    assert main_bu["rows"][0] == {
        "procurement": "it_plan",
        "total": 5,
        "reached_production": 3,
        "scrapped": 1,
        "production_rate": 0.6,
    }
    empty = (await reports_repo.alignment(conn, ReportFilters(team=_unique("team")))).model_dump(mode="json")
    assert empty == {"rows": [], "by_deployment_target": []}
