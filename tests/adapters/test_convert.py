"""``liftoff convert``: the documented CSV example and ServiceNow demands become valid import lines."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schemas.imports import ImportLine
from tests.conftest import repo_root
from tests.fakes.server import serve
from tests.fakes.servicenow import create_fake_servicenow
from worker import convert_cli
from worker.cli import run
from worker.convert import Mapping, convert_record

EXAMPLES = repo_root() / "docs" / "imports"


def _lines(path: Path) -> list[ImportLine]:
    return [ImportLine.model_validate(json.loads(raw)) for raw in path.read_text(encoding="utf-8").splitlines()]


def test_the_documented_csv_example_converts_to_valid_import_lines(tmp_path: Path) -> None:
    out = tmp_path / "portfolio.jsonl"
    code = run(
        [
            "convert",
            "csv",
            str(EXAMPLES / "portfolio.csv"),
            "--mapping",
            str(EXAMPLES / "csv-mapping.yaml"),
            "-o",
            str(out),
        ]
    )
    assert code == 0
    lines = _lines(out)
    assert [(line.title, line.stage.value) for line in lines] == [
        ("Invoice matching", "poc"),
        ("Support triage", "proposed"),
        ("Demand forecast", "it_signoff"),
        ("Contract review", "production"),
    ]
    first = lines[0]
    assert first.budget_usd == 120_000  # "120,000" in the sheet
    assert first.submitted_at == datetime(2026, 1, 12, tzinfo=UTC)
    assert first.infrastructure.integrations == ["erp", "sap"]
    assert first.risk_tier.value == "limited"
    assert [r.model_dump() for r in first.external_refs] == [{"system": "ai-portfolio-sheet", "ref": "AI-001"}]
    assert lines[2].stage_entered_at == datetime(2026, 5, 2, 9, 30, tzinfo=UTC)
    assert lines[3].infrastructure.deployment_target.value == "hybrid"
    assert len({line.initiative_id() for line in lines}) == 4


def test_an_unknown_value_is_passed_on_for_the_import_to_name() -> None:
    mapping = Mapping.from_dict({"system": "s", "fields": {"stage": "Status"}, "values": {"stage": {"Pilot": "poc"}}})
    assert convert_record({"Status": "pilot"}, mapping)["stage"] == "poc"  # case does not matter
    assert convert_record({"Status": "On ice"}, mapping)["stage"] == "On ice"
    with pytest.raises(ValueError, match="system"):
        Mapping.from_dict({"fields": {}})
    with pytest.raises(ValueError, match="unknown mapping keys"):
        Mapping.from_dict({"system": "s", "colums": {}})


async def test_servicenow_demands_are_fetched_page_by_page_and_converted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, state = create_fake_servicenow(user="liftoff", password="s3cret-pass")
    demands = [
        ("Qualified", "Churn model", "2025-11-03 08:00:00", "2026-02-01 10:15:00"),
        ("Approved", "Fraud scoring", "2025-08-20 12:00:00", "2026-03-05 16:45:00"),
        ("Completed", "Doc search", "2025-02-01 09:00:00", "2025-10-10 11:00:00"),
    ]
    for status, title, created, updated in demands:
        record = state.insert(
            "dmn_demand",
            {
                "short_description": title,
                "description": f"{title} for the business",
                "state": status,
                "risk": "High",
                "total_cost": "250000",
                "assignment_group.name": "data-science",
                "business_unit.name": "retail",
                "demand_manager.email": "pm@example.com",
                "submitter.email": "alice@example.com",
            },
        )
        record["sys_created_on"], record["sys_updated_on"] = created, updated  # an instance's older records
    monkeypatch.setattr(convert_cli, "PAGE", 2)
    out = tmp_path / "demands.jsonl"
    async with serve(app) as url:
        argv = [
            "convert",
            "servicenow",
            "--instance",
            url,
            "--user",
            "liftoff",
            "--password",
            "s3cret-pass",
            "-o",
            str(out),
        ]
        assert await asyncio.to_thread(run, argv) == 0
    lines = _lines(out)
    assert [(line.title, line.stage.value, line.risk_tier.value) for line in lines] == [
        ("Churn model", "poc", "high"),
        ("Fraud scoring", "infra_review", "high"),
        ("Doc search", "production", "high"),
    ]
    assert [r.ref for line in lines for r in line.external_refs] == ["DMND0001001", "DMND0001002", "DMND0001003"]
    assert lines[0].submitted_at == datetime(2025, 11, 3, 8, tzinfo=UTC)
    assert lines[0].stage_entered_at == datetime(2026, 2, 1, 10, 15, tzinfo=UTC)
    assert (lines[1].team, lines[1].business_unit, lines[1].sponsor, lines[1].budget_usd) == (
        "data-science",
        "retail",
        "pm@example.com",
        250_000,
    )
    listed = [p for m, p in state.requests if m == "GET"]
    assert len(listed) == 2  # two pages of two

    # a saved Table API answer converts the same way
    saved = tmp_path / "answer.json"
    saved.write_text(json.dumps({"result": [state.records("dmn_demand")[0]]}), encoding="utf-8")
    again = tmp_path / "saved.jsonl"
    assert run(["convert", "servicenow", str(saved), "-o", str(again)]) == 0
    assert _lines(again)[0].title == "Churn model"
