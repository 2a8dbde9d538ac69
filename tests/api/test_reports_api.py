"""Reports over HTTP: JSON with the contract's fields, CSV, filters, unknown names; and the terminal table."""

from __future__ import annotations

import csv
import io

import httpx

from tests.api.conftest import auth, submission
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
