"""The events repository and the initiatives read model, each test in a rolled-back transaction."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias

import asyncpg
import pytest
import pytest_asyncio
from asyncpg.pool import PoolConnectionProxy

from db import events_repo, initiatives_repo
from schemas.events import EventKind, InitiativeSnapshot, LifecycleEvent, RecordEventsInput
from schemas.stages import InitiativeStatus, Stage
from schemas.taxonomy import ReasonCode
from tests.conftest import SUBMITTER, make_spec

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
POLICY = "policy-test-1"

Connection: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"


@pytest_asyncio.fixture
async def conn(pool: asyncpg.Pool) -> AsyncIterator[Connection]:
    """A pooled connection inside a transaction that is rolled back after the test."""
    async with pool.acquire() as connection:
        tr = connection.transaction()
        await tr.start()
        try:
            yield connection
        finally:
            await tr.rollback()


def new_id() -> str:
    return f"init-{uuid.uuid4().hex[:12]}"


def snapshot(
    initiative_id: str,
    *,
    stage: Stage = Stage.PROPOSED,
    status: InitiativeStatus = InitiativeStatus.ACTIVE,
    team: str = "ml-platform",
    submitted_at: datetime = T0,
    stage_entered_at: datetime = T0,
    awaiting_roles: list[str] | None = None,
    reason_code: ReasonCode | None = None,
) -> InitiativeSnapshot:
    return InitiativeSnapshot(
        initiative_id=initiative_id,
        workflow_id=f"initiative-{initiative_id}",
        spec=make_spec(team=team),
        submitter=SUBMITTER,
        policy_version=POLICY,
        stage=stage,
        status=status,
        stage_entered_at=stage_entered_at,
        awaiting_roles=awaiting_roles if awaiting_roles is not None else ["portfolio"],
        reason_code=reason_code,
        submitted_at=submitted_at,
    )


def event(
    initiative_id: str,
    seq: int,
    kind: EventKind,
    stage: Stage,
    *,
    at: datetime = T0,
    reason_code: ReasonCode | None = None,
    data: dict[str, Any] | None = None,
    event_id: str | None = None,
) -> LifecycleEvent:
    return LifecycleEvent(
        event_id=event_id or f"{initiative_id}-{seq}",
        initiative_id=initiative_id,
        seq=seq,
        kind=kind,
        stage=stage,
        actor="paula@example.com",
        role="portfolio",
        reason_code=reason_code,
        detail=f"{kind.value} at seq {seq}",
        data=data or {},
        occurred_at=at,
        policy_version=POLICY,
    )


def record(ev: LifecycleEvent, snap: InitiativeSnapshot) -> RecordEventsInput:
    return RecordEventsInput(events=[ev], snapshot=snap)


async def record_one(conn: Connection, rec: RecordEventsInput) -> bool:
    """Record a one-event batch; whether the event was new."""
    return await events_repo.record_events(conn, rec) == 1


async def submit(conn: Connection, initiative_id: str, **snap: Any) -> None:
    """Record the submission (seq 1), which creates the initiative row."""
    inserted = await record_one(
        conn, record(event(initiative_id, 1, EventKind.SUBMITTED, Stage.PROPOSED), snapshot(initiative_id, **snap))
    )
    assert inserted is True


async def intervals(conn: Connection, initiative_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT stage, visit, entered_at, left_at, outcome, reason_code FROM stage_intervals"
        " WHERE initiative_id = $1 ORDER BY entered_at, stage, visit",
        initiative_id,
    )
    return [dict(r) for r in rows]


async def event_count(conn: Connection, initiative_id: str) -> int:
    count: int = await conn.fetchval("SELECT count(*) FROM lifecycle_events WHERE initiative_id = $1", initiative_id)
    return count


# ------------------------------------------------------------------ record_event


async def test_first_event_creates_the_initiative_row(conn: Connection) -> None:
    iid = new_id()
    await submit(conn, iid, awaiting_roles=["portfolio", "security"])

    row = await initiatives_repo.get_initiative(conn, iid)
    assert row is not None
    assert row.id == iid
    assert row.workflow_id == f"initiative-{iid}"
    assert row.title == "Churn prediction"
    assert row.team == "ml-platform"
    assert row.submitter == SUBMITTER
    assert row.risk_tier == "limited"
    assert row.deployment_target == "public_cloud"
    assert row.budget_usd == 50_000
    assert row.stage == "proposed"
    assert row.status == "active"
    assert row.awaiting_roles == ["portfolio", "security"]
    assert row.reason_code is None
    assert row.submitted_at == T0
    assert row.updated_at == T0


async def test_recording_the_same_event_twice_inserts_one_row(conn: Connection) -> None:
    iid = new_id()
    rec = record(
        event(iid, 1, EventKind.STAGE_ENTERED, Stage.PROPOSED),
        snapshot(iid),
    )

    first = await record_one(conn, rec)
    second = await record_one(conn, rec)

    assert first is True
    assert second is False
    assert await event_count(conn, iid) == 1
    # The duplicate has no read-model effect either: still one visit of the stage.
    assert [(i["stage"], i["visit"]) for i in await intervals(conn, iid)] == [("proposed", 1)]


async def test_lower_seq_snapshot_never_overwrites_a_newer_one(conn: Connection) -> None:
    iid = new_id()
    await submit(conn, iid)
    newer_at = T0 + timedelta(hours=2)
    await record_one(
        conn,
        record(
            event(iid, 5, EventKind.STAGE_ENTERED, Stage.POC, at=newer_at),
            snapshot(
                iid,
                stage=Stage.POC,
                status=InitiativeStatus.STALLED,
                stage_entered_at=newer_at,
                awaiting_roles=["business_owner"],
                reason_code=ReasonCode.APPROVAL_PENDING,
            ),
        ),
    )

    # A late retry of an older event arrives after the newer one.
    older_at = T0 + timedelta(hours=1)
    inserted = await record_one(
        conn,
        record(
            event(iid, 3, EventKind.APPROVED, Stage.PROPOSED, at=older_at),
            snapshot(iid, stage=Stage.PROPOSED, status=InitiativeStatus.ACTIVE, stage_entered_at=T0),
        ),
    )

    assert inserted is True, "the older event itself is still appended to the log"
    row = await initiatives_repo.get_initiative(conn, iid)
    assert row is not None
    assert row.stage == "poc"
    assert row.status == "stalled"
    assert row.stage_entered_at == newer_at
    assert row.awaiting_roles == ["business_owner"]
    assert row.reason_code == "APPROVAL_PENDING"
    assert row.updated_at == newer_at
    assert [e.seq for e in await events_repo.list_events(conn, iid)] == [1, 3, 5]


async def test_higher_seq_snapshot_replaces_the_row(conn: Connection) -> None:
    iid = new_id()
    await submit(conn, iid)
    later = T0 + timedelta(minutes=30)
    await record_one(
        conn,
        record(
            event(iid, 2, EventKind.STAGE_ENTERED, Stage.POC, at=later),
            snapshot(iid, stage=Stage.POC, stage_entered_at=later, awaiting_roles=["business_owner"]),
        ),
    )

    row = await initiatives_repo.get_initiative(conn, iid)
    assert row is not None
    assert row.stage == "poc"
    assert row.stage_entered_at == later
    assert row.awaiting_roles == ["business_owner"]
    assert row.updated_at == later


# ------------------------------------------------------------------ stage intervals


async def test_stage_intervals_open_close_and_count_visits(conn: Connection) -> None:
    iid = new_id()
    t1, t2, t3 = T0 + timedelta(hours=1), T0 + timedelta(hours=2), T0 + timedelta(hours=3)
    await record_one(conn, record(event(iid, 1, EventKind.STAGE_ENTERED, Stage.POC), snapshot(iid)))

    opened = await intervals(conn, iid)
    assert opened == [
        {"stage": "poc", "visit": 1, "entered_at": T0, "left_at": None, "outcome": None, "reason_code": None}
    ]

    await record_one(
        conn,
        record(event(iid, 2, EventKind.STAGE_LEFT, Stage.POC, at=t1, data={"outcome": "advanced"}), snapshot(iid)),
    )
    closed = await intervals(conn, iid)
    assert closed == [
        {"stage": "poc", "visit": 1, "entered_at": T0, "left_at": t1, "outcome": "advanced", "reason_code": None}
    ]

    await record_one(conn, record(event(iid, 3, EventKind.STAGE_ENTERED, Stage.POC, at=t2), snapshot(iid)))
    await record_one(
        conn,
        record(
            event(
                iid,
                4,
                EventKind.STAGE_LEFT,
                Stage.POC,
                at=t3,
                reason_code=ReasonCode.DATA_ACCESS_BLOCKED,
                data={"outcome": "sent_back"},
            ),
            snapshot(iid),
        ),
    )
    visits = await intervals(conn, iid)
    assert [(v["visit"], v["entered_at"], v["left_at"], v["outcome"], v["reason_code"]) for v in visits] == [
        (1, T0, t1, "advanced", None),
        (2, t2, t3, "sent_back", "DATA_ACCESS_BLOCKED"),
    ]


async def test_stage_left_without_outcome_counts_as_advanced(conn: Connection) -> None:
    iid = new_id()
    t1 = T0 + timedelta(hours=1)
    await record_one(conn, record(event(iid, 1, EventKind.STAGE_ENTERED, Stage.POC), snapshot(iid)))
    await record_one(conn, record(event(iid, 2, EventKind.STAGE_LEFT, Stage.POC, at=t1), snapshot(iid)))

    [interval] = await intervals(conn, iid)
    assert interval["left_at"] == t1
    assert interval["outcome"] == "advanced"


async def test_entering_a_terminal_stage_opens_a_closed_interval(conn: Connection) -> None:
    iid = new_id()
    await submit(conn, iid)
    await record_one(
        conn,
        record(
            event(iid, 2, EventKind.STAGE_ENTERED, Stage.PRODUCTION),
            snapshot(iid, stage=Stage.PRODUCTION, status=InitiativeStatus.PRODUCTION),
        ),
    )

    [interval] = await intervals(conn, iid)
    assert interval["stage"] == "production"
    assert interval["left_at"] == T0
    assert interval["outcome"] == "production"


async def test_scrapped_closes_the_open_interval_and_adds_a_scrapped_one(conn: Connection) -> None:
    iid = new_id()
    t1 = T0 + timedelta(days=3)
    await record_one(conn, record(event(iid, 1, EventKind.STAGE_ENTERED, Stage.INFRA_REVIEW), snapshot(iid)))

    inserted = await record_one(
        conn,
        record(
            event(iid, 2, EventKind.SCRAPPED, Stage.INFRA_REVIEW, at=t1, reason_code=ReasonCode.BUDGET_CUT),
            snapshot(
                iid,
                stage=Stage.SCRAPPED,
                status=InitiativeStatus.SCRAPPED,
                stage_entered_at=t1,
                awaiting_roles=[],
                reason_code=ReasonCode.BUDGET_CUT,
            ),
        ),
    )

    assert inserted is True
    rows = await intervals(conn, iid)
    assert [(r["stage"], r["visit"], r["entered_at"], r["left_at"], r["outcome"]) for r in rows] == [
        ("infra_review", 1, T0, t1, "scrapped"),
        ("scrapped", 1, t1, t1, "scrapped"),
    ]
    assert rows[0]["reason_code"] == "BUDGET_CUT"
    row = await initiatives_repo.get_initiative(conn, iid)
    assert row is not None
    assert (row.stage, row.status, row.reason_code) == ("scrapped", "scrapped", "BUDGET_CUT")


# ------------------------------------------------------------------ events


@pytest.mark.parametrize(
    ("code", "family"),
    [
        (ReasonCode.BIZ_VALUE_UNPROVEN, "BUSINESS"),
        (ReasonCode.DATA_ACCESS_BLOCKED, "DATA"),
        (ReasonCode.BUDGET_CUT, "COST"),
        (ReasonCode.SECURITY_FINDINGS_OPEN, "RISK_COMPLIANCE"),
    ],
)
async def test_reason_family_is_derived_from_the_code(conn: Connection, code: ReasonCode, family: str) -> None:
    iid = new_id()
    await submit(conn, iid)
    await record_one(conn, record(event(iid, 2, EventKind.REJECTED, Stage.PROPOSED, reason_code=code), snapshot(iid)))

    events = await events_repo.list_events(conn, iid)
    assert [(e.kind, e.reason_code, e.reason_family) for e in events] == [
        ("submitted", None, None),
        ("rejected", code.value, family),
    ]


async def test_list_events_orders_by_occurred_at_then_seq(conn: Connection) -> None:
    iid = new_id()
    later, latest = T0 + timedelta(minutes=5), T0 + timedelta(minutes=10)
    # Recorded out of order: the log is read back in the order things happened.
    await record_one(
        conn, record(event(iid, 4, EventKind.APPROVED, Stage.POC, at=latest), snapshot(iid, stage=Stage.POC))
    )
    await record_one(
        conn, record(event(iid, 3, EventKind.STAGE_ENTERED, Stage.POC, at=later), snapshot(iid, stage=Stage.POC))
    )
    await record_one(conn, record(event(iid, 2, EventKind.STAGE_LEFT, Stage.PROPOSED, at=later), snapshot(iid)))
    await record_one(conn, record(event(iid, 1, EventKind.SUBMITTED, Stage.PROPOSED), snapshot(iid)))

    events = await events_repo.list_events(conn, iid)
    assert [(e.seq, e.occurred_at) for e in events] == [(1, T0), (2, later), (3, later), (4, latest)]
    assert events[0].event_id == f"{iid}-1"
    assert events[0].actor == "paula@example.com"
    assert events[0].role == "portfolio"
    assert events[0].detail == "submitted at seq 1"
    assert events[0].policy_version == POLICY
    assert events[0].verified is False


async def test_event_data_round_trips_as_json(conn: Connection) -> None:
    iid = new_id()
    data = {"awaiting_roles": ["portfolio"], "nested": {"n": 1, "ok": True}}
    await record_one(conn, record(event(iid, 1, EventKind.STAGE_ENTERED, Stage.PROPOSED, data=data), snapshot(iid)))

    [ev] = await events_repo.list_events(conn, iid)
    assert ev.data == data


async def test_list_events_of_an_unknown_initiative_is_empty(conn: Connection) -> None:
    assert await events_repo.list_events(conn, new_id()) == []


# ------------------------------------------------------------------ refusals


async def test_record_refusal_writes_a_decision_refused_event(conn: Connection) -> None:
    iid = new_id()
    await submit(conn, iid)
    await record_one(
        conn,
        record(
            event(iid, 2, EventKind.STAGE_ENTERED, Stage.POC, at=T0 + timedelta(minutes=1)),
            snapshot(iid, stage=Stage.POC),
        ),
    )
    at = T0 + timedelta(minutes=2)

    recorded = await events_repo.record_refusal(
        conn,
        event_id=f"refusal-{iid}",
        initiative_id=iid,
        actor="mallory@example.com",
        role="business_owner",
        detail="approver is the submitter",
        data={"update": "approve", "refusal": "self_approval"},
        at=at,
    )

    assert recorded is True
    refusal = (await events_repo.list_events(conn, iid))[-1]
    assert refusal.event_id == f"refusal-{iid}"
    assert refusal.kind == "decision_refused"
    assert refusal.seq == -1
    assert refusal.stage == "poc", "a refusal is filed under the initiative's current stage"
    assert refusal.actor == "mallory@example.com"
    assert refusal.role == "business_owner"
    assert refusal.detail == "approver is the submitter"
    assert refusal.data == {"update": "approve", "refusal": "self_approval"}
    assert refusal.occurred_at == at
    assert refusal.policy_version == POLICY
    assert refusal.verified is False
    assert refusal.reason_code is None
    # The refusal does not touch the read model.
    row = await initiatives_repo.get_initiative(conn, iid)
    assert row is not None
    assert row.stage == "poc"


async def test_record_refusal_for_unknown_initiative_returns_false(conn: Connection) -> None:
    iid = new_id()

    recorded = await events_repo.record_refusal(
        conn,
        event_id=f"refusal-{iid}",
        initiative_id=iid,
        actor="mallory@example.com",
        role=None,
        detail="no such initiative",
        data={},
        at=T0,
    )

    assert recorded is False
    assert await event_count(conn, iid) == 0


async def test_record_refusal_twice_with_the_same_event_id_records_once(conn: Connection) -> None:
    iid = new_id()
    await submit(conn, iid)
    kwargs: dict[str, Any] = {
        "event_id": f"refusal-{iid}",
        "initiative_id": iid,
        "actor": "mallory@example.com",
        "role": None,
        "detail": "refused",
        "data": {},
        "at": T0,
    }

    assert await events_repo.record_refusal(conn, **kwargs) is True
    assert await events_repo.record_refusal(conn, **kwargs) is False
    assert await event_count(conn, iid) == 2  # the submission and one refusal


# ------------------------------------------------------------------ initiatives_repo


async def test_get_initiative_returns_none_for_unknown_id(conn: Connection) -> None:
    assert await initiatives_repo.get_initiative(conn, new_id()) is None


async def seed_team(conn: Connection, team: str) -> dict[str, str]:
    """Four initiatives of ``team`` in different stages and statuses, submitted an hour apart."""
    layout = {
        "a": (Stage.POC, InitiativeStatus.ACTIVE),
        "b": (Stage.INFRA_REVIEW, InitiativeStatus.STALLED),
        "c": (Stage.POC, InitiativeStatus.ON_HOLD),
        "d": (Stage.POC, InitiativeStatus.STALLED),
    }
    ids: dict[str, str] = {}
    for n, (key, (stage, status)) in enumerate(layout.items()):
        iid = new_id()
        ids[key] = iid
        await submit(
            conn,
            iid,
            team=team,
            stage=stage,
            status=status,
            submitted_at=T0 + timedelta(hours=n),
        )
    return ids


async def test_list_initiatives_filters_by_stage_status_team_and_stalled(conn: Connection) -> None:
    team, other_team = f"team-{uuid.uuid4().hex[:8]}", f"team-{uuid.uuid4().hex[:8]}"
    ids = await seed_team(conn, team)
    other = new_id()
    await submit(conn, other, team=other_team, stage=Stage.POC, status=InitiativeStatus.ACTIVE)

    async def listed(**filters: Any) -> list[str]:
        return [r.id for r in await initiatives_repo.list_initiatives(conn, **filters)]

    # Newest submission first.
    assert await listed(team=team) == [ids["d"], ids["c"], ids["b"], ids["a"]]
    assert await listed(team=other_team) == [other]
    assert await listed(team=team, stage="poc") == [ids["d"], ids["c"], ids["a"]]
    assert await listed(team=team, stage="infra_review") == [ids["b"]]
    assert await listed(team=team, stage="rollout") == []
    assert await listed(team=team, status="on_hold") == [ids["c"]]
    assert await listed(team=team, stalled=True) == [ids["d"], ids["b"]]
    assert await listed(team=team, stalled=False) == [ids["c"], ids["a"]]
    assert await listed(team=team, stage="poc", stalled=True) == [ids["d"]]
    assert await listed(team=team, stage="poc", status="active") == [ids["a"]]


async def test_list_initiatives_without_team_filter_includes_every_team(conn: Connection) -> None:
    team, other_team = f"team-{uuid.uuid4().hex[:8]}", f"team-{uuid.uuid4().hex[:8]}"
    ids = await seed_team(conn, team)
    other = new_id()
    # Submitted far in the future so it sorts ahead of anything else in the session database.
    await submit(conn, other, team=other_team, stage=Stage.IT_SIGNOFF, submitted_at=T0 + timedelta(days=3650))

    by_stage = await initiatives_repo.list_initiatives(conn, stage="it_signoff")
    assert other in [r.id for r in by_stage]
    assert all(r.stage == "it_signoff" for r in by_stage)
    stalled = {r.id for r in await initiatives_repo.list_initiatives(conn, stalled=True, limit=10_000)}
    assert {ids["b"], ids["d"]} <= stalled
    assert other not in stalled


async def test_list_initiatives_respects_limit_and_offset(conn: Connection) -> None:
    team = f"team-{uuid.uuid4().hex[:8]}"
    ids = await seed_team(conn, team)
    newest_first = [ids["d"], ids["c"], ids["b"], ids["a"]]

    async def page(limit: int, offset: int) -> list[str]:
        rows = await initiatives_repo.list_initiatives(conn, team=team, limit=limit, offset=offset)
        return [r.id for r in rows]

    assert await page(2, 0) == newest_first[:2]
    assert await page(2, 2) == newest_first[2:]
    assert await page(3, 1) == newest_first[1:]
    assert await page(10, 4) == []
    assert await page(0, 0) == []
