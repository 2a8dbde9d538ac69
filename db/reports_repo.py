"""Reports for leaders, one SQL query each (``db/queries/report_*.sql``), returned as models.

Every query takes the same four parameters (since, until, team, business unit), so every report accepts the
same :class:`~schemas.reports.ReportFilters`. Each returns a model of ``schemas.report_rows`` whose JSON
dump is the API's answer: numbers as ``int`` or ``float`` (never ``Decimal``), times as ISO 8601 strings.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg

from db.pool import Conn
from db.queries import sql
from schemas.report_rows import (
    Alignment,
    CohortRow,
    Cohorts,
    CohortStallRow,
    DeploymentTargetRow,
    Funnel,
    FunnelStage,
    ProcurementRow,
    ReportModel,
    Rows,
    ScrapReasonRow,
    Spend,
    SpendRollupRow,
    SpendRow,
    StalledNowRow,
    StallReasonRow,
    SunkCost,
    SunkCostRow,
    TimeInStageRow,
)
from schemas.reports import ReportFilters
from schemas.stages import STAGE_ORDER, Stage

#: The rates the design starts from (industry surveys of AI pilots), shown next to the measured ones.
BASE_RATES: dict[str, float] = {
    "poc_abandonment_rate": 0.39,
    "post_poc_scrap_rate": 0.46,
    "pilot_to_production_rate": 0.33,
}

#: Reports with a query of their own for a window of submission time (``report_<name>_window.sql``).
_WINDOWED = frozenset({"time_in_stage"})

#: Stages after the PoC in which a scrap counts as "scrapped after the PoC".
_AFTER_POC: tuple[Stage, ...] = (Stage.INFRA_REVIEW, Stage.IT_SIGNOFF, Stage.ROLLOUT)


def _params(f: ReportFilters) -> tuple[datetime | None, datetime | None, str | None, str | None]:
    """The four query parameters every report query takes, in order."""
    return (f.since, f.until, f.team, f.business_unit)


async def _fetch(db: Conn | asyncpg.Pool, name: str, f: ReportFilters) -> list[asyncpg.Record]:
    """Run ``report_<name>.sql`` in a transaction of its own with the report settings.

    A report with a ``report_<name>_window.sql`` answers a question scoped by submission time only (or not at
    all) from that query instead: it takes since and until and reads rollups counted by month.
    """
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            return await _fetch_on(conn, name, f)
    return await _fetch_on(db, name, f)


async def _fetch_on(conn: Conn, name: str, f: ReportFilters) -> list[asyncpg.Record]:
    windowed = name in _WINDOWED and f.team is None and f.business_unit is None
    query, args = (f"report_{name}_window", (f.since, f.until)) if windowed else (f"report_{name}", _params(f))
    # Inside a caller's transaction this is a savepoint, and the settings last until that transaction ends.
    async with conn.transaction():
        await conn.execute(sql("report_settings"))
        return await conn.fetch(sql(query), *args)


def _rate(numerator: int, denominator: int) -> float | None:
    """``numerator / denominator``, or None when there is nothing to divide by."""
    return numerator / denominator if denominator else None


async def funnel(conn: Conn | asyncpg.Pool, f: ReportFilters) -> Funnel:
    """How many initiatives reached, passed and were scrapped in each stage, and the three headline rates.

    A send-back and re-entry counts once per stage: every count is of distinct initiatives.
    """
    records = await _fetch(conn, "funnel", f)
    tampered = await _fetch(conn, "tampered", f)
    total = records[0]["total"] if records else 0
    by_stage = {r["stage"]: r for r in records if r["stage"] is not None}

    def count(stage: Stage, column: str) -> int:
        row = by_stage.get(stage.value)
        return int(row[column]) if row is not None else 0

    entered_poc = count(Stage.POC, "reached")
    scrapped_in_poc = count(Stage.POC, "scrapped")
    entered_infra_review = count(Stage.INFRA_REVIEW, "reached")
    scrapped_after_poc = sum(count(s, "scrapped") for s in _AFTER_POC)
    reached_production = count(Stage.PRODUCTION, "reached")
    return Funnel(
        total=total,
        stages=[
            FunnelStage(
                stage=s.value,
                reached=count(s, "reached"),
                advanced=count(s, "advanced"),
                scrapped=count(s, "scrapped"),
            )
            for s in STAGE_ORDER
        ],
        entered_poc=entered_poc,
        scrapped_in_poc=scrapped_in_poc,
        entered_infra_review=entered_infra_review,
        scrapped_after_poc=scrapped_after_poc,
        reached_production=reached_production,
        poc_abandonment_rate=_rate(scrapped_in_poc, entered_poc),
        post_poc_scrap_rate=_rate(scrapped_after_poc, entered_infra_review),
        pilot_to_production_rate=_rate(reached_production, entered_poc),
        base_rates=dict(BASE_RATES),
        tampered=int(tampered[0]["tampered"]) if tampered else 0,
    )


def period_label(start: datetime, period: str) -> str:
    """``2026-11`` for a month, ``2026-Q4`` for a quarter."""
    return f"{start.year}-Q{(start.month - 1) // 3 + 1}" if period == "quarter" else f"{start.year}-{start.month:02d}"


async def cohorts(conn: Conn | asyncpg.Pool, f: ReportFilters, period: str = "month") -> Cohorts:
    """Initiatives by submission month or quarter, with the funnel's counts and rates per cohort.

    Also the stall reasons' share of the stalls that began in each period (which causes are growing).
    """
    if period not in ("month", "quarter"):
        msg = f"period must be month or quarter, not {period!r}"
        raise ValueError(msg)
    if isinstance(conn, asyncpg.Pool):
        async with conn.acquire() as one:
            return await cohorts(one, f, period)
    async with conn.transaction():
        await conn.execute(sql("report_settings"))
        args = (*cohort_window(f), period, *cohort_months(f))
        records = await conn.fetch(sql("report_cohorts"), *args)
        production_days = await conn.fetch(sql("report_cohort_days"), *args)
        stalls = await conn.fetch(sql("report_cohort_stalls"), *args)
    per_period: dict[str, int] = {}
    for r in stalls:
        label = period_label(r["period"], period)
        per_period[label] = per_period.get(label, 0) + r["stalls"]
    counts: dict[str, dict[str, int]] = {}
    days: dict[str, list[tuple[int, int]]] = {}
    for r in records:
        counts[period_label(r["period"], period)] = {key: r[key] for key in _COHORT_COUNTS}
    for r in production_days:  # initiatives in production per period and whole day to production
        days.setdefault(period_label(r["period"], period), []).append((r["day"], r["initiatives"]))
    return Cohorts(
        period=period,
        rows=[
            CohortRow(
                period=label,
                **{k: c[k] for k in _COHORT_COUNTS},
                poc_abandonment_rate=_rate(c["scrapped_in_poc"], c["reached_poc"]),
                post_poc_scrap_rate=_rate(c["scrapped_after_poc"], c["entered_infra_review"]),
                pilot_to_production_rate=_rate(c["reached_production"], c["reached_poc"]),
                median_days_to_production=median_of_counts(days.get(label, [])),
            )
            for label, c in counts.items()
        ],
        base_rates=dict(BASE_RATES),
        stall_reasons=[
            CohortStallRow(
                period=period_label(r["period"], period),
                family=r["family"],
                code=r["code"],
                stalls=r["stalls"],
                share=r["stalls"] / per_period[period_label(r["period"], period)],
            )
            for r in stalls
        ],
    )


_EARLIEST = datetime(1, 1, 1, tzinfo=UTC)
_LATEST = datetime(9999, 1, 1, tzinfo=UTC)


def cohort_window(f: ReportFilters) -> tuple[datetime, datetime, str | None, str | None]:
    """since, until (the earliest and latest times for no bound), team, business unit."""
    return (f.since or _EARLIEST, f.until or _LATEST, f.team, f.business_unit)


def cohort_months(f: ReportFilters) -> tuple[datetime, datetime]:
    """The whole months (UTC) of the window ``[from, until)`` the cohort counters answer for.

    When the window holds no whole month, ``from == until`` is the window's end, and every row in scope is
    counted from the rows.
    """
    since, until = (t.astimezone(UTC) for t in cohort_window(f)[:2])
    first = datetime(since.year, since.month, 1, tzinfo=UTC) if since > _EARLIEST else _EARLIEST
    if first < since:
        first = datetime(first.year + first.month // 12, first.month % 12 + 1, 1, tzinfo=UTC)
    last = datetime(until.year, until.month, 1, tzinfo=UTC) if until < _LATEST else _LATEST
    if first >= last:
        return until, until
    return first, last


#: The counts of a cohort row, as report_cohorts.sql sums them.
_COHORT_COUNTS = (
    "submitted",
    "reached_poc",
    "scrapped_in_poc",
    "reached_production",
    "scrapped_after_poc",
    "still_open",
    "entered_infra_review",
)


def median_of_counts(values: list[tuple[int, int]]) -> float | None:
    """The median of values given as (value, how many), interpolated as ``percentile_cont(0.5)`` does."""
    total = sum(n for _, n in values)
    if total == 0:
        return None
    ranks = ((total - 1) // 2, total // 2)
    found: list[float] = []
    seen = 0
    for value, n in sorted(values):
        found += [float(value)] * sum(1 for r in ranks if seen <= r < seen + n)
        seen += n
    return (found[0] + found[1]) / 2


async def spend(conn: Conn | asyncpg.Pool, f: ReportFilters, *, over_budget_at: float = 1.0, limit: int = 200) -> Spend:
    """Budget, PoC spend, provisioned cost and monthly run-rate, with over-budget flags.

    The top ``limit`` initiatives by what they spent, and every initiative in scope rolled up by team, by
    business unit and in total.
    """
    if isinstance(conn, asyncpg.Pool):
        async with conn.acquire() as one:
            return await spend(one, f, over_budget_at=over_budget_at, limit=limit)
    async with conn.transaction():
        await conn.execute(sql("report_settings"))
        records = await conn.fetch(sql("report_spend"), *_params(f), limit, over_budget_at)
        rollups = await conn.fetch(sql("report_spend_rollup"), *_params(f), over_budget_at)

    def rolled(r: asyncpg.Record) -> SpendRollupRow:
        return SpendRollupRow(**{k: r[k] for k in SpendRollupRow.model_fields})

    [totals] = [rolled(r) for r in rollups if r["dimension"] == "total"]  # the empty grouping set: always one
    return Spend(
        rows=[SpendRow(**dict(r)) for r in records],
        by_team=[rolled(r) for r in rollups if r["dimension"] == "team"],
        by_business_unit=[rolled(r) for r in rollups if r["dimension"] == "business_unit"],
        totals=totals,
        over_budget_at=over_budget_at,
    )


async def stall_reasons(conn: Conn | asyncpg.Pool, f: ReportFilters) -> Rows[StallReasonRow]:
    """Stalls per reason family, code and stage, most frequent first, with total and median stalled time."""
    records = await _fetch(conn, "stall_reasons", f)
    return Rows[StallReasonRow](rows=[StallReasonRow(**r) for r in records])


async def scrap_reasons(conn: Conn | asyncpg.Pool, f: ReportFilters) -> Rows[ScrapReasonRow]:
    """Scrapped initiatives per reason family, code and stage; abandonments also by the stall behind them."""
    records = await _fetch(conn, "scrap_reasons", f)
    return Rows[ScrapReasonRow](rows=[ScrapReasonRow(**r) for r in records])


async def time_in_stage(conn: Conn | asyncpg.Pool, f: ReportFilters) -> Rows[TimeInStageRow]:
    """Per stage in lifecycle order: completed visits with p50, p90 and max duration, and open visits."""
    records = await _fetch(conn, "time_in_stage", f)
    return Rows[TimeInStageRow](rows=[TimeInStageRow(**r) for r in records])


async def stalled_now(conn: Conn | asyncpg.Pool, f: ReportFilters) -> Rows[StalledNowRow]:
    """Initiatives stalled right now, longest stalled first, with reason, escalation level and awaited roles."""
    records = await _fetch(conn, "stalled_now", f)
    return Rows[StalledNowRow](rows=[StalledNowRow(**r) for r in records])


async def sunk_cost(conn: Conn | asyncpg.Pool, f: ReportFilters) -> SunkCost:
    """What scrapped initiatives cost (PoC spend plus provisioning) per scrap reason and stage."""
    records = await _fetch(conn, "sunk_cost", f)
    fields = SunkCostRow.model_fields
    return SunkCost(
        rows=[SunkCostRow(**{k: r[k] for k in fields}) for r in records],
        total_usd=records[0]["grand_total_usd"] if records else 0.0,
    )


async def alignment(conn: Conn | asyncpg.Pool, f: ReportFilters) -> Alignment:
    """How often initiatives reach production (or are scrapped) by procurement and by deployment target."""
    records = await _fetch(conn, "alignment", f)

    def counts(r: asyncpg.Record) -> dict[str, Any]:
        return {
            "total": r["total"],
            "reached_production": r["reached_production"],
            "scrapped": r["scrapped"],
            "production_rate": _rate(r["reached_production"], r["total"]),
        }

    return Alignment(
        rows=[ProcurementRow(procurement=r["value"], **counts(r)) for r in records if r["dimension"] == "procurement"],
        by_deployment_target=[
            DeploymentTargetRow(deployment_target=r["value"], **counts(r))
            for r in records
            if r["dimension"] == "deployment_target"
        ],
    )


#: Every report by its public name (the names in ``schemas.reports.REPORT_NAMES``, in the same order).
REPORTS: dict[str, Callable[[Conn | asyncpg.Pool, ReportFilters], Awaitable[ReportModel]]] = {
    "funnel": funnel,
    "stall-reasons": stall_reasons,
    "scrap-reasons": scrap_reasons,
    "time-in-stage": time_in_stage,
    "stalled-now": stalled_now,
    "sunk-cost": sunk_cost,
    "alignment": alignment,
    "cohorts": cohorts,
    "spend": spend,
}
