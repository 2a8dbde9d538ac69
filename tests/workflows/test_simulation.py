"""The simulator's ground truth is exactly what the reports show for its portfolio."""

from __future__ import annotations

import uuid
from collections import Counter

import asyncpg
from temporalio.client import Client

from db import reports_repo
from schemas.policy import Policy
from schemas.reports import ReportFilters
from worker.simulate import plan_portfolio, simulate, truth_of


def test_the_plan_follows_the_seed() -> None:
    assert plan_portfolio(30, seed=3) == plan_portfolio(30, seed=3)
    assert plan_portfolio(30, seed=3) != plan_portfolio(30, seed=4)
    truth = truth_of(plan_portfolio(400, seed=1), team="t")
    assert 0.32 <= truth.scrapped_in_poc / truth.entered_poc <= 0.46  # about the 39% base rate
    assert 0.38 <= truth.scrapped_after_poc / truth.entered_infra_review <= 0.54  # about 46%


async def test_reports_match_the_ground_truth(
    client: Client, task_queue: str, pool: asyncpg.Pool, policy: Policy
) -> None:
    team = f"sim-{uuid.uuid4().hex[:8]}"
    truth = await simulate(
        client, task_queue, policy, initiatives=10, seed=11, concurrency=5, team=team, progress=False
    )
    filters = ReportFilters(team=team)
    funnel = (await reports_repo.funnel(pool, filters)).model_dump(mode="json")
    for key in (
        "total",
        "entered_poc",
        "scrapped_in_poc",
        "entered_infra_review",
        "scrapped_after_poc",
        "reached_production",
    ):
        assert funnel[key] == getattr(truth, key), key
    scraps = (await reports_repo.scrap_reasons(pool, filters)).model_dump(mode="json")
    by_code: Counter[str] = Counter()
    for row in scraps["rows"]:
        by_code[row["code"]] += row["initiatives"]
    assert by_code == truth.scrap_reasons
    stalls = (await reports_repo.stall_reasons(pool, filters)).model_dump(mode="json")
    stalled: Counter[str] = Counter()
    for row in stalls["rows"]:
        stalled[row["code"]] += row["stalls"]
    assert stalled == truth.stall_reasons
