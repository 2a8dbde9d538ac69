"""Reports for leaders: ``GET /v1/reports/{name}`` as JSON, or CSV with ``?format=csv``."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from api.context import Caller, Ctx
from api.errors import problems
from db import reports_repo
from db.reports_repo import REPORTS
from schemas.limits import Moment, Name
from schemas.reports import REPORT_NAMES, ReportFilters

router = APIRouter(prefix="/v1/reports", tags=["reports"])


def table_rows(name: str, report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report as flat rows (what CSV and the terminal table show)."""
    if name == "funnel":
        summary = {k: v for k, v in report.items() if not isinstance(v, (list, dict))}
        return [{"stage": s["stage"], "reached": s["reached"], "advanced": s["advanced"]} for s in report["stages"]] + [
            {"stage": f"{k}", "reached": v, "advanced": ""} for k, v in summary.items()
        ]
    rows: list[dict[str, Any]] = list(report.get("rows", []))
    if name == "alignment":
        rows = [{"by": "procurement", **r} for r in rows] + [
            {"by": "deployment_target", **r} for r in report.get("by_deployment_target", [])
        ]
    if name == "spend":
        rows = (
            [{"by": "initiative", **r} for r in rows]
            + [{"by": "team", **r} for r in report.get("by_team", [])]
            + [{"by": "business_unit", **r} for r in report.get("by_business_unit", [])]
            + [{"by": "total", **report["totals"]}]
        )
    return rows


# A cell a spreadsheet would read as a formula (OWASP "CSV injection"): =, +, -, @, tab, CR.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:  # noqa: ANN401 - any JSON value
    """``value`` safe to open in a spreadsheet: text that starts like a formula gets a leading ``'``.

    Titles, teams and business units are typed by people; ``=HYPERLINK(...)`` in a title must reach
    the leader's spreadsheet as text. Numbers stay numbers (a negative number is not text).
    """
    if isinstance(value, list):
        value = "|".join(map(str, value))
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(rows: list[dict[str, Any]]) -> str:
    """Rows as CSV with a header made of every key, in first-seen order; formulas neutralised."""
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: csv_cell(v) for k, v in row.items()})
    return out.getvalue()


def _answer(name: str, filters: ReportFilters, data: dict[str, Any], format: str) -> Response:  # noqa: A002
    if format == "csv":
        return PlainTextResponse(
            to_csv(table_rows(name, data)),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    return JSONResponse({"report": name, "filters": filters.model_dump(mode="json"), **data})


def report_filters(
    since: Moment | None = None,
    until: Moment | None = None,
    team: Annotated[Name | None, Query()] = None,
    business_unit: Annotated[Name | None, Query()] = None,
) -> ReportFilters:
    """The scope every report takes: submitted in ``[since, until)``, one team, one business unit."""
    return ReportFilters(since=since, until=until, team=team, business_unit=business_unit)


Filters = Annotated[ReportFilters, Depends(report_filters)]

_REPORT_CONTENT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report: JSON, or CSV with ``?format=csv``",
        "content": {"application/json": {}, "text/csv": {"schema": {"type": "string"}}},
    }
}


@router.get(
    "/cohorts",
    responses=_REPORT_CONTENT,
    summary="Submission cohorts by month or quarter: are we getting better?",
)
async def cohort_report(
    ctx: Ctx,
    _: Caller,
    filters: Filters,
    period: Annotated[Literal["month", "quarter"], Query()] = "month",
    format: Annotated[Literal["json", "csv"], Query()] = "json",  # noqa: A002 - the public query parameter's name
) -> Response:
    """Per submission cohort: what became of the initiatives submitted in each month or quarter.

    How many reached the PoC and production, were scrapped in and after the PoC, are still open, the three
    rates beside the base rates, and the median days to production; also each period's stall reasons and
    their share (CSV: the cohort rows).
    """
    data = (await reports_repo.cohorts(ctx.pool, filters, period)).model_dump(mode="json")
    return _answer("cohorts", filters, data, format)


@router.get("/spend", responses=_REPORT_CONTENT, summary="Spend against budget: where does the money go?")
async def spend_report(
    ctx: Ctx,
    _: Caller,
    filters: Filters,
    limit: Annotated[int, Query(ge=1, le=5000, description="at most this many initiatives, most spent first")] = 200,
    format: Annotated[Literal["json", "csv"], Query()] = "json",  # noqa: A002 - the public query parameter's name
) -> Response:
    """Budget, PoC spend, provisioned cost to date and monthly run-rate, spend of scrapped work, over-budget flags.

    Per initiative (the ``limit`` that spent most) and rolled up by team, by business unit and in total over
    every initiative in scope. Over budget: provisioned cost above the policy's ``over_budget_at`` share of
    the budget (default 1.0).
    """
    report = await reports_repo.spend(ctx.pool, filters, over_budget_at=ctx.policy.budget_threshold, limit=limit)
    return _answer("spend", filters, report.model_dump(mode="json"), format)


@router.get(
    "/{name}",
    responses={**_REPORT_CONTENT, **problems({404: "No report of that name (the message lists them)"})},
    summary="One report (funnel, stall-reasons, scrap-reasons, time-in-stage, stalled-now, sunk-cost, alignment)",
)
async def report(
    name: Annotated[str, Path(description="report name")],
    ctx: Ctx,
    _: Caller,
    filters: Filters,
    format: Annotated[Literal["json", "csv"], Query()] = "json",  # noqa: A002 - the public query parameter's name
) -> Response:
    """The report over initiatives submitted in ``[since, until)``, optionally for one team or business unit."""
    if name not in REPORTS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown report {name!r}; available: {', '.join(REPORT_NAMES)}")
    data = (await REPORTS[name](ctx.pool, filters)).model_dump(mode="json")
    return _answer(name, filters, data, format)
