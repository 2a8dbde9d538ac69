"""Policy backtest: replay the recorded stage visits under the policy in force and under a candidate.

Both policies go through the same replay, built on the logic the workflow itself runs: the stage clock's
deadlines (``workflows.stalls.next_deadline``: stall, escalation rungs, abandonment), the quorum
(``Policy.required_roles``) and the infrastructure assessment (``activities.assessment.assess``). So the
policy in force as candidate changes nothing, and every difference comes from the candidate alone.

What it cannot know is what people would have done differently: a visit is replayed until it ended in the
record (or now, when it is open). A visit the record shows abandoned is not extended under a more lenient
candidate; one the candidate abandons earlier ends there. Holds count as one block of held time, and a
clock restarted by partial progress (e.g. PoC results) is not replayed: both are the same under either
policy, so they shift both sides alike.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg

from activities.assessment import assess
from db import backtest_repo
from db.backtest_repo import AssessedRow, VisitRow
from schemas.assessment import AssessInfrastructureInput
from schemas.backtest import BacktestResult, BacktestTotals, Change, Compared, StageDays
from schemas.classification import RiskTier
from schemas.policy import Policy
from schemas.reports import ReportFilters
from schemas.stages import STAGE_ORDER, Stage
from workflows.stalls import next_deadline


@dataclass
class Replayed:
    """What one visit does under one policy."""

    stalled_at: datetime | None = None
    escalations: list[datetime] = field(default_factory=list)
    abandoned_at: datetime | None = None
    ended_at: datetime | None = None
    #: roles the quorum needed that the visit's approvals did not give (for a visit that closed its gate)
    missing_roles: list[str] = field(default_factory=list)


def replay_visit(visit: VisitRow, policy: Policy, now: datetime) -> Replayed:
    """The stage clock of ``visit`` under ``policy``, until the visit ended in the record (or ``now``)."""
    stage = Stage(visit.stage)
    end = visit.left_at or now
    out = Replayed(ended_at=end)
    stalled, level = False, 0
    held = timedelta(seconds=visit.held_seconds)
    while True:
        deadline = next_deadline(
            stage_policy=policy.stages.get(stage),
            ladder=policy.escalation,
            clock_start=visit.entered_at,
            held=held,
            stalled=stalled,
            escalation_level=level,
        )
        if deadline is None or deadline.at >= end:
            break
        if deadline.kind == "stall":
            stalled, out.stalled_at = True, deadline.at
        elif deadline.kind == "escalate":
            level += 1
            out.escalations.append(deadline.at)
        else:  # abandon
            out.abandoned_at = out.ended_at = deadline.at
            break
    if visit.outcome == "advanced" and stage.is_gate:
        needed = policy.required_roles(stage, RiskTier(visit.risk_tier))
        out.missing_roles = [r.value for r in needed if r.value not in visit.approved_roles]
    return out


def blocking_findings(row: AssessedRow, policy: Policy) -> list[str]:
    """The blocking findings ``policy``'s IT standards give the initiative's submission (messages)."""
    request = AssessInfrastructureInput(
        initiative_id=row.id, spec=row.spec, standards=policy.it_standards, over_budget_at=policy.budget_threshold
    )
    return [f.message for f in assess(request, row.provisioned_usd) if f.blocking]


@dataclass
class _Tally:
    stalls: int = 0
    escalations: int = 0
    abandoned: int = 0
    gates_not_closed: int = 0
    blocking: int = 0
    days: dict[str, float] = field(default_factory=lambda: defaultdict(float))


def _changes(visit: VisitRow, before: Replayed, after: Replayed) -> list[tuple[str, datetime | None]]:
    stage = visit.stage
    found: list[tuple[str, datetime | None]] = []
    if after.stalled_at and not before.stalled_at:
        found.append((f"would have stalled in {stage}", after.stalled_at))
    elif before.stalled_at and not after.stalled_at:
        found.append((f"would not have stalled in {stage}", before.stalled_at))
    if len(after.escalations) > len(before.escalations):
        level = len(after.escalations)
        found.append((f"would have been escalated to level {level} in {stage}", after.escalations[-1]))
    elif len(after.escalations) < len(before.escalations):
        times = f"{len(after.escalations)} times, not {len(before.escalations)}"
        found.append((f"would have been escalated {times} in {stage}", None))
    if after.abandoned_at and not before.abandoned_at:
        found.append((f"would have been abandoned in {stage}", after.abandoned_at))
    elif before.abandoned_at and not after.abandoned_at:
        found.append((f"would not have been abandoned in {stage} by the time it left", before.abandoned_at))
    if after.missing_roles and not before.missing_roles:
        roles = ", ".join(after.missing_roles)
        found.append((f"{stage}'s gate would not have closed without {roles}", visit.left_at))
    return found


def compare(
    visits: list[VisitRow],
    assessed: list[AssessedRow],
    baseline: Policy,
    candidate: Policy,
    now: datetime,
    not_assessed: int = 0,
) -> BacktestResult:
    """Both policies over the recorded visits and assessments, and every difference."""
    tallies = (_Tally(), _Tally())
    changed: list[Change] = []
    for visit in visits:
        before, after = replay_visit(visit, baseline, now), replay_visit(visit, candidate, now)
        for tally, replayed in zip(tallies, (before, after), strict=True):
            tally.stalls += replayed.stalled_at is not None
            tally.escalations += len(replayed.escalations)
            tally.abandoned += replayed.abandoned_at is not None
            tally.gates_not_closed += bool(replayed.missing_roles)
            ended = replayed.ended_at or now
            tally.days[visit.stage] += (ended - visit.entered_at).total_seconds() / 86400
        changed += [Change(id=visit.id, title=visit.title, what=w, when=t) for w, t in _changes(visit, before, after)]
    for row in assessed:
        findings = blocking_findings(row, baseline), blocking_findings(row, candidate)
        for tally, found in zip(tallies, findings, strict=True):
            tally.blocking += bool(found)
        added = [f"blocking finding: {m}" for m in sorted(set(findings[1]) - set(findings[0]))]
        gone = [f"no blocking finding: {m}" for m in sorted(set(findings[0]) - set(findings[1]))]
        changed += [Change(id=row.id, title=row.title, what=w, when=row.assessed_at) for w in added + gone]
    base, cand = tallies
    stages = [s.value for s in STAGE_ORDER if s.value in base.days or s.value in cand.days]
    return BacktestResult(
        baseline_version=baseline.version,
        candidate_version=candidate.version,
        initiatives=len({v.id for v in visits}),
        totals=BacktestTotals(
            stalls=Compared(baseline=base.stalls, candidate=cand.stalls),
            escalations=Compared(baseline=base.escalations, candidate=cand.escalations),
            abandoned=Compared(baseline=base.abandoned, candidate=cand.abandoned),
            gates_not_closed=Compared(baseline=base.gates_not_closed, candidate=cand.gates_not_closed),
            blocking_findings=Compared(baseline=base.blocking, candidate=cand.blocking),
        ),
        changed=sorted(changed, key=lambda c: (c.when or now, c.id, c.what)),
        days_by_stage=[
            StageDays(
                stage=s,
                baseline_days=round(base.days[s], 3),
                candidate_days=round(cand.days[s], 3),
                difference_days=round(cand.days[s] - base.days[s], 3),
            )
            for s in stages
        ],
        not_assessed=not_assessed,
    )


async def backtest(pool: asyncpg.Pool, scope: ReportFilters, baseline: Policy, candidate: Policy) -> BacktestResult:
    """Read the recorded visits and assessments in scope (PostgreSQL only, nothing written) and compare."""
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        visits = await backtest_repo.visits(conn, scope)
        assessed, unreadable = await backtest_repo.assessed(conn, scope)
    return compare(visits, assessed, baseline, candidate, datetime.now(UTC), unreadable)
