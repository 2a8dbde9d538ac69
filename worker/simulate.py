"""``liftoff simulate``: a synthetic portfolio driven through the real engine, with known ground truth.

Each initiative is a real ``InitiativeWorkflow`` (started with a policy whose SLAs are seconds) and is
driven through real updates. Outcomes are drawn with the seed's base rates: about 39% scrapped during
the PoC, 46% of the rest scrapped between PoC and production; scrap and stall reasons are drawn from
the taxonomy. The simulator prints what it intended, so the reports can be checked against it.
"""

from __future__ import annotations

import asyncio
import random
import sys
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle

from schemas.classification import DataClassification, DeploymentTarget, Procurement, RiskTier
from schemas.contract import INITIATIVE_WORKFLOW, workflow_id_for
from schemas.decisions import ApproveInput, ReportBlockerInput, ScrapInput, SubmitPocResultsInput
from schemas.initiative import InfrastructureSpec, InitiativeSpec, StartInitiativeInput, SuccessCriterion
from schemas.policy import Policy, StagePolicy
from schemas.stages import Role, Stage
from schemas.status import InitiativeStatusView
from schemas.taxonomy import ReasonCode
from workflows import search_attributes as sa

POC_SCRAP_REASONS = (ReasonCode.POC_CRITERIA_NOT_MET, ReasonCode.BIZ_VALUE_UNPROVEN, ReasonCode.DATA_GOVERNANCE_GAP)
LATE_SCRAP_REASONS = (
    ReasonCode.INTEGRATION_COMPLEXITY,
    ReasonCode.SCALABILITY_UNPROVEN,
    ReasonCode.PLATFORM_MISALIGNED,
    ReasonCode.PROD_COST_OVER_BUDGET,
)
STALL_REASONS = (ReasonCode.DATA_ACCESS_BLOCKED, ReasonCode.SKILLS_UNAVAILABLE, ReasonCode.VENDOR_DEPENDENCY)
SUBMITTER = "sim-team@sim.liftoff"
ROSTER: dict[str, list[str]] = {
    "portfolio": ["portfolio@sim.liftoff"],
    # two owners: one approves the PoC, the other joins IT operations at the joint sign-off
    "business_owner": ["owner@sim.liftoff", "owner2@sim.liftoff"],
    "infrastructure": ["infra@sim.liftoff"],
    "it_operations": ["itops@sim.liftoff"],
    "security": ["security@sim.liftoff"],
    "compliance": ["compliance@sim.liftoff"],
}


@dataclass(frozen=True)
class Rates:
    """Outcome probabilities (defaults: the industry base rates)."""

    poc_scrap: float = 0.39
    post_poc_scrap: float = 0.46
    stall: float = 0.25


@dataclass(frozen=True)
class Plan:
    """What the simulator intends for one initiative."""

    index: int
    scrap_at: Stage | None
    scrap_reason: ReasonCode | None
    stall_at: Stage | None
    stall_reason: ReasonCode | None
    procurement: Procurement
    #: submitted this many calendar months before the run's month (0: now)
    months_ago: int = 0


@dataclass
class GroundTruth:
    """The figures the reports must show for the simulated portfolio."""

    team: str
    total: int = 0
    entered_poc: int = 0
    scrapped_in_poc: int = 0
    entered_infra_review: int = 0
    scrapped_after_poc: int = 0
    reached_production: int = 0
    scrap_reasons: Counter[str] = field(default_factory=Counter)
    stall_reasons: Counter[str] = field(default_factory=Counter)
    #: per submission month (``2026-11``): submitted, reached_poc, scrapped_in_poc, scrapped_after_poc,
    #: reached_production
    cohorts: dict[str, Counter[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "team": self.team,
            "total": self.total,
            "entered_poc": self.entered_poc,
            "scrapped_in_poc": self.scrapped_in_poc,
            "entered_infra_review": self.entered_infra_review,
            "scrapped_after_poc": self.scrapped_after_poc,
            "reached_production": self.reached_production,
            "scrap_reasons": dict(self.scrap_reasons),
            "stall_reasons": dict(self.stall_reasons),
            "cohorts": {month: dict(counts) for month, counts in sorted(self.cohorts.items())},
        }


def fast_policy(base: Policy, poc_sla: timedelta = timedelta(seconds=3), back: timedelta = timedelta(0)) -> Policy:
    """``base`` with the PoC's SLA compressed to seconds, where the planned stalls happen.

    Other stages get an hour: a simulated initiative moves through them in milliseconds, so only the
    stalls the plan intends can occur, and the ground truth stays exact. A submission back-dated by up to
    ``back`` starts its proposed stage's clock then, so that stage gets an hour more than ``back``.
    """
    relaxed = StagePolicy(sla=timedelta(hours=1), abandon_after=timedelta(hours=2))
    stages = dict.fromkeys(base.stages, relaxed)
    stages[Stage.POC] = StagePolicy(sla=poc_sla, abandon_after=timedelta(hours=2))
    if back:
        stages[Stage.PROPOSED] = StagePolicy(sla=back + timedelta(hours=1), abandon_after=back + timedelta(hours=2))
    return base.model_copy(update={"version": f"{base.version}+simulated", "stages": stages})


def plan_portfolio(n: int, seed: int, rates: Rates = Rates(), months: int = 1) -> list[Plan]:
    """Draw every initiative's fate up front (same seed, same portfolio), spread over ``months`` of submission."""
    rng = random.Random(seed)  # noqa: S311 - a simulation, not cryptography
    plans = []
    for index in range(n):
        scrap_at: Stage | None = None
        reason: ReasonCode | None = None
        if rng.random() < rates.poc_scrap:
            scrap_at, reason = Stage.POC, rng.choice(POC_SCRAP_REASONS)
        elif rng.random() < rates.post_poc_scrap:
            scrap_at, reason = rng.choice((Stage.INFRA_REVIEW, Stage.IT_SIGNOFF)), rng.choice(LATE_SCRAP_REASONS)
        stall_at, stall_reason = None, None
        if rng.random() < rates.stall:
            stall_at, stall_reason = Stage.POC, rng.choice(STALL_REASONS)
        procurement = Procurement.SEPARATE if rng.random() < 0.66 else Procurement.IT_PLAN
        plans.append(Plan(index, scrap_at, reason, stall_at, stall_reason, procurement, index % max(months, 1)))
    return plans


def submitted_at(plan: Plan, now: datetime) -> datetime:
    """When ``plan``'s initiative was submitted: its months back, on the 2nd of the month (UTC)."""
    year, month = now.year, now.month - plan.months_ago
    while month < 1:
        year, month = year - 1, month + 12
    if plan.months_ago == 0:
        return now
    return datetime(year, month, 2, 9, tzinfo=UTC) + timedelta(minutes=plan.index % 1000)


def truth_of(plans: list[Plan], team: str, now: datetime | None = None) -> GroundTruth:
    """The figures the plans imply."""
    truth = GroundTruth(team=team, total=len(plans))
    moment = now or datetime.now(UTC)
    for plan in plans:
        at = submitted_at(plan, moment)
        cohort = truth.cohorts.setdefault(f"{at.year}-{at.month:02d}", Counter())
        cohort["submitted"] += 1
        cohort["reached_poc"] += 1
        if plan.scrap_at is Stage.POC:
            cohort["scrapped_in_poc"] += 1
        elif plan.scrap_at is not None:
            cohort["scrapped_after_poc"] += 1
        else:
            cohort["reached_production"] += 1
        truth.entered_poc += 1
        if plan.stall_reason is not None:
            truth.stall_reasons[plan.stall_reason.value] += 1
        if plan.scrap_at is Stage.POC:
            truth.scrapped_in_poc += 1
        else:
            truth.entered_infra_review += 1
            if plan.scrap_at is not None:
                truth.scrapped_after_poc += 1
            else:
                truth.reached_production += 1
        if plan.scrap_reason is not None:
            truth.scrap_reasons[plan.scrap_reason.value] += 1
    return truth


async def _update(handle: WorkflowHandle[Any, Any], name: str, payload: Any) -> InitiativeStatusView:  # noqa: ANN401
    result: InitiativeStatusView = await handle.execute_update(name, payload, result_type=InitiativeStatusView)
    return result


async def _wait_stalled(handle: WorkflowHandle[Any, Any]) -> None:
    for _ in range(200):
        view: InitiativeStatusView = await handle.query("status", result_type=InitiativeStatusView)
        if view.stall is not None:
            return
        await asyncio.sleep(0.1)
    msg = f"{handle.id} never stalled"
    raise RuntimeError(msg)


async def run_plan(
    client: Client, task_queue: str, policy: Policy, team: str, plan: Plan, now: datetime | None = None
) -> None:
    """Drive one initiative as planned, to production or to its scrap (submitted ``plan.months_ago`` back)."""
    iid = f"sim{uuid.uuid4().hex[:12]}"
    spec = InitiativeSpec(
        title=f"Simulated initiative {plan.index}",
        summary="synthetic",
        team=team,
        business_unit="simulation",
        sponsor="sponsor@sim.liftoff",
        risk_tier=RiskTier.LIMITED,
        data_classification=DataClassification.INTERNAL,
        procurement=plan.procurement,
        budget_usd=50_000,
        infrastructure=InfrastructureSpec(deployment_target=DeploymentTarget.PUBLIC_CLOUD, containerized=True),
        poc_success_criteria=[SuccessCriterion(metric="f1", operator=">=", target=0.8)],
    )
    submitted = submitted_at(plan, now or datetime.now(UTC))
    start = StartInitiativeInput(
        initiative_id=iid,
        spec=spec,
        submitter=SUBMITTER,
        submitted_at_iso=submitted.isoformat(),
        policy=policy,
        roster=ROSTER,
    )
    handle = await client.start_workflow(
        INITIATIVE_WORKFLOW,
        start,
        id=workflow_id_for(iid),
        task_queue=task_queue,
        search_attributes=sa.for_start(start, submitted),
    )
    await _update(handle, "approve", ApproveInput(approver="portfolio@sim.liftoff", role=Role.PORTFOLIO))
    if plan.stall_at is Stage.POC and plan.stall_reason is not None:
        await _update(handle, "report_blocker", ReportBlockerInput(actor=SUBMITTER, reason_code=plan.stall_reason))
        await _wait_stalled(handle)
    if plan.scrap_at is Stage.POC and plan.scrap_reason is not None:
        await _update(handle, "scrap", ScrapInput(actor=SUBMITTER, reason_code=plan.scrap_reason))
        return
    await _update(handle, "submit_poc_results", SubmitPocResultsInput(actor=SUBMITTER, metrics={"f1": 0.9}))
    await _update(handle, "approve", ApproveInput(approver="owner@sim.liftoff", role=Role.BUSINESS_OWNER))
    if plan.scrap_at is Stage.INFRA_REVIEW and plan.scrap_reason is not None:
        await _update(handle, "scrap", ScrapInput(actor=SUBMITTER, reason_code=plan.scrap_reason))
        return
    await _update(handle, "approve", ApproveInput(approver="infra@sim.liftoff", role=Role.INFRASTRUCTURE))
    if plan.scrap_at is Stage.IT_SIGNOFF and plan.scrap_reason is not None:
        await _update(handle, "scrap", ScrapInput(actor=SUBMITTER, reason_code=plan.scrap_reason))
        return
    await _update(handle, "approve", ApproveInput(approver="itops@sim.liftoff", role=Role.IT_OPERATIONS))
    await _update(handle, "approve", ApproveInput(approver="owner2@sim.liftoff", role=Role.BUSINESS_OWNER))
    await handle.result()


def _progress(done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} initiatives")
    sys.stderr.flush()


async def simulate(
    client: Client,
    task_queue: str,
    base_policy: Policy,
    *,
    initiatives: int,
    seed: int,
    concurrency: int = 4,
    team: str | None = None,
    progress: bool = True,
    months: int = 1,
) -> GroundTruth:
    """Run the portfolio and return its ground truth; ``months`` > 1 back-dates submissions over that many months."""
    team = team or f"sim-{seed}"
    policy = fast_policy(base_policy, back=timedelta(days=31 * max(months, 1)) if months > 1 else timedelta(0))
    plans = plan_portfolio(initiatives, seed, months=months)
    now = datetime.now(UTC)
    limit = asyncio.Semaphore(concurrency)
    done = 0

    async def one(plan: Plan) -> None:
        nonlocal done
        async with limit:
            await run_plan(client, task_queue, policy, team, plan, now)
        done += 1
        if progress:
            _progress(done, initiatives)

    if progress:
        _progress(0, initiatives)
    try:
        await asyncio.gather(*(one(plan) for plan in plans))
    finally:
        if progress:
            sys.stderr.write("\n")
    return truth_of(plans, team, now)
