"""Policy backtest over recorded lifecycles: the same replay under the policy in force and a candidate."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest_asyncio

from api.backtest import backtest
from db import events_repo
from schemas.backtest import Compared
from schemas.events import EventKind, InitiativeSnapshot, LifecycleEvent, RecordEventsInput
from schemas.policy import Policy
from schemas.policy_file import policy_with
from schemas.reports import ReportFilters
from schemas.stages import InitiativeStatus, Stage
from tests.conftest import SUBMITTER, make_spec
from tests.db.test_events_repo import POLICY, event

DAY = timedelta(days=1)
NOW = datetime.now(UTC).replace(microsecond=0)


class Life:
    """One initiative's recorded events on a forward-moving clock, approvals with their roles."""

    def __init__(self, iid: str, start: datetime) -> None:
        self.iid, self.at, self.events = iid, start, list[LifecycleEvent]()
        self.stage = Stage.PROPOSED
        self.emit(EventKind.SUBMITTED).emit(EventKind.STAGE_ENTERED)

    def emit(self, kind: EventKind, role: str | None = None, data: dict[str, Any] | None = None) -> Life:
        e = event(self.iid, len(self.events) + 1, kind, self.stage, at=self.at, data=data)
        self.events.append(e.model_copy(update={"role": role}))
        return self

    def stay(self, days: float) -> Life:
        self.at += days * DAY
        return self

    def approve(self, *roles: str, to: Stage) -> Life:
        for role in roles:
            self.emit(EventKind.APPROVED, role)
        self.emit(EventKind.STAGE_LEFT, data={"outcome": "advanced"})
        self.stage = to
        self.emit(EventKind.STAGE_ENTERED)
        if to is Stage.PRODUCTION:
            self.emit(EventKind.PRODUCTION)
        return self


@pytest_asyncio.fixture(loop_scope="session")
async def portfolio(pool: asyncpg.Pool) -> AsyncIterator[str]:
    """Three initiatives of one new team: one in production, one long in PoC, one fresh."""
    team = f"bt-{uuid.uuid4().hex[:8]}"
    lives = {
        "shipped": Life(f"{team}-a", NOW - 60 * DAY)
        .stay(5)
        .approve("portfolio", to=Stage.POC)
        .stay(20)
        .approve("business_owner", to=Stage.INFRA_REVIEW)
        .stay(3)
        .approve("infrastructure", to=Stage.IT_SIGNOFF)
        .stay(10)
        .approve("it_operations", "business_owner", to=Stage.ROLLOUT)
        .stay(1)
        .approve(to=Stage.PRODUCTION),
        "slow": Life(f"{team}-b", NOW - 70 * DAY).stay(10).approve("portfolio", to=Stage.POC),
        "fresh": Life(f"{team}-c", NOW - 2 * DAY),
    }
    for name, life in lives.items():
        status = InitiativeStatus.PRODUCTION if life.stage is Stage.PRODUCTION else InitiativeStatus.ACTIVE
        snapshot = InitiativeSnapshot(
            initiative_id=life.iid,
            workflow_id=f"initiative-{life.iid}",
            spec=make_spec(team=team, title=f"Backtest {name}", budget_usd=300_000),
            submitter=SUBMITTER,
            policy_version=POLICY,
            stage=life.stage,
            status=status,
            stage_entered_at=life.at,
            awaiting_roles=[],
            submitted_at=life.events[0].occurred_at,
        )
        async with pool.acquire() as conn:
            await events_repo.record_events(conn, RecordEventsInput(events=life.events, snapshot=snapshot))
    yield team


async def test_the_policy_in_force_as_candidate_changes_nothing(
    pool: asyncpg.Pool, policy: Policy, portfolio: str
) -> None:
    counts = "SELECT (SELECT count(*) FROM lifecycle_events) + (SELECT count(*) FROM stage_intervals)"
    before = await pool.fetchval(counts)
    result = await backtest(pool, ReportFilters(team=portfolio), policy, policy_with({}))

    assert result.initiatives == 3
    assert result.changed == []
    for name, compared in result.totals:
        assert compared.baseline == compared.candidate, name
    assert [s.stage for s in result.days_by_stage] == ["proposed", "poc", "infra_review", "it_signoff", "rollout"]
    assert all(s.difference_days == 0 for s in result.days_by_stage)
    assert await pool.fetchval(counts) == before  # it reads only (in a read-only transaction)


async def test_a_halved_sla_gives_at_least_as_many_stalls_and_names_them(
    pool: asyncpg.Pool, policy: Policy, portfolio: str
) -> None:
    halved = {
        "version": "halved",
        "stages": {stage.value: {"sla": f"PT{int(p.sla.total_seconds() // 2)}S"} for stage, p in policy.stages.items()},
    }
    result = await backtest(pool, ReportFilters(team=portfolio), policy, policy_with(halved))

    assert (result.baseline_version, result.candidate_version) == (policy.version, "halved")
    assert result.totals.stalls.candidate >= result.totals.stalls.baseline
    # the slow one has been in the PoC for 60 days: the PoC's 90 days become 45, so it would have stalled on day 45
    stalled = [c for c in result.changed if c.what == "would have stalled in poc"]
    assert [(c.id, c.when) for c in stalled] == [(f"{portfolio}-b", NOW - 60 * DAY + 45 * DAY)]
    # the shipped one's 20 PoC days stay under 45 and its 5 proposed days under 7, but its 10 days of IT
    # sign-off pass 7: it would have stalled there, and been escalated to the first rung (one SLA) with it
    signoff = NOW - 60 * DAY + 28 * DAY
    assert sorted((c.what, c.when) for c in result.changed if c.id == f"{portfolio}-a") == [
        ("would have been escalated to level 1 in it_signoff", signoff + 7 * DAY),
        ("would have stalled in it_signoff", signoff + 7 * DAY),
    ]


async def test_a_quorum_adding_security_lists_the_gates_that_closed_without_it(
    pool: asyncpg.Pool, policy: Policy, portfolio: str
) -> None:
    stricter = {"version": "with-security", "quorum": {"infra_review": ["infrastructure", "security"]}}
    result = await backtest(pool, ReportFilters(team=portfolio), policy, policy_with(stricter))

    assert result.totals.gates_not_closed.baseline == 0
    assert result.totals.gates_not_closed.candidate == 1
    [change] = result.changed
    assert (change.id, change.title) == (f"{portfolio}-a", "Backtest shipped")
    assert change.what == "infra_review's gate would not have closed without security"
    assert change.when == NOW - 60 * DAY + 28 * DAY


async def test_stricter_it_standards_raise_blocking_findings(
    pool: asyncpg.Pool, policy: Policy, portfolio: str
) -> None:
    result = await backtest(
        pool, ReportFilters(team=portfolio), policy, policy_with({"it_standards": {"max_budget_usd": 100_000}})
    )

    assert (result.totals.blocking_findings.baseline, result.totals.blocking_findings.candidate) == (0, 1)
    [change] = result.changed
    assert change.id == f"{portfolio}-a"
    assert change.what == "blocking finding: budget 300,000 USD exceeds the limit of 100,000 USD"


async def test_a_submission_that_does_not_read_is_counted_not_assessed(
    pool: asyncpg.Pool, policy: Policy, portfolio: str
) -> None:
    # a row loaded around liftoff, with a stub for its submission (this test's own portfolio)
    await pool.execute('UPDATE initiatives SET spec = \'{"title": "stub"}\'::jsonb WHERE id = $1', f"{portfolio}-a")
    stricter = policy_with({"it_standards": {"max_budget_usd": 100_000}})
    result = await backtest(pool, ReportFilters(team=portfolio), policy, stricter)
    assert result.not_assessed == 1
    assert result.totals.blocking_findings == Compared(baseline=0, candidate=0)
    assert result.initiatives == 3  # its visits still replay
