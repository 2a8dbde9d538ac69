"""The simulator's ground truth is exactly what the reports show for its portfolio."""

from __future__ import annotations

import re
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


async def test_cohorts_over_months_of_submissions_add_up_to_the_funnel_and_the_ground_truth(
    client: Client, task_queue: str, pool: asyncpg.Pool, policy: Policy
) -> None:
    team = f"sim-{uuid.uuid4().hex[:8]}"
    truth = await simulate(
        client, task_queue, policy, initiatives=12, seed=5, concurrency=6, team=team, progress=False, months=4
    )
    assert len(truth.cohorts) == 4
    filters = ReportFilters(team=team)
    funnel = (await reports_repo.funnel(pool, filters)).model_dump(mode="json")
    cohorts = (await reports_repo.cohorts(pool, filters, "month")).model_dump(mode="json")

    rows = {r["period"]: r for r in cohorts["rows"]}
    assert sorted(rows) == sorted(truth.cohorts)  # one cohort per month the simulator submitted in
    for month, counts in truth.cohorts.items():
        for key in ("submitted", "reached_poc", "scrapped_in_poc", "scrapped_after_poc", "reached_production"):
            assert rows[month][key] == counts[key], (month, key)
        assert rows[month]["still_open"] == 0
    # the cohorts' totals are the funnel's
    assert sum(r["submitted"] for r in rows.values()) == funnel["total"]
    for cohort_key, funnel_key in (
        ("reached_poc", "entered_poc"),
        ("scrapped_in_poc", "scrapped_in_poc"),
        ("scrapped_after_poc", "scrapped_after_poc"),
        ("reached_production", "reached_production"),
        ("entered_infra_review", "entered_infra_review"),
    ):
        assert sum(r[cohort_key] for r in rows.values()) == funnel[funnel_key], cohort_key
    # an older cohort took longer to reach production: it was submitted months before it was driven through
    medians = [rows[m]["median_days_to_production"] for m in sorted(rows) if rows[m]["reached_production"]]
    assert medians == sorted(medians, reverse=True)
    assert cohorts["base_rates"] == funnel["base_rates"]
    quarters = (await reports_repo.cohorts(pool, filters, "quarter")).model_dump(mode="json")
    assert sum(r["submitted"] for r in quarters["rows"]) == funnel["total"]
    assert all(re.fullmatch(r"\d{4}-Q[1-4]", r["period"]) for r in quarters["rows"])
    # the stall reasons' shares add up to one per period
    shares: dict[str, float] = {}
    for row in cohorts["stall_reasons"]:
        shares[row["period"]] = shares.get(row["period"], 0.0) + row["share"]
    assert all(abs(total - 1) < 1e-9 for total in shares.values())
    assert sum(r["stalls"] for r in cohorts["stall_reasons"]) == sum(truth.stall_reasons.values())
