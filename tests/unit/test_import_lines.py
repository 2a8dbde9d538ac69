"""An import line's own rules: dates in order, stages reached, and the same initiative for the same references."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.imports import ImportLine, imported_start
from schemas.stages import Stage
from tests.api.conftest import submission

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)
DAY = timedelta(days=1)


def line(**fields: Any) -> ImportLine:
    body = submission()
    body.update(stage="it_signoff", submitted_at=T0.isoformat(), stage_entered_at=(T0 + 30 * DAY).isoformat())
    body.update(fields)
    return ImportLine.model_validate(body)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"stage_entered_at": (T0 - DAY).isoformat()}, "stage_entered_at is before submitted_at"),
        ({"stages_entered": {"poc": (T0 + 40 * DAY).isoformat()}}, "stages_entered.poc is not between"),
        ({"stages_entered": {"it_signoff": (T0 + DAY).isoformat()}}, "only stages after proposed and before"),
        (
            {
                "stage": "poc",
                "approvals": [
                    {"role": "it_operations", "person": "o@x.com", "at": T0.isoformat(), "stage": "it_signoff"}
                ],
            },
            "not a gate the initiative has reached",
        ),
        (
            {"approvals": [{"role": "it_operations", "person": "o@x.com", "at": (T0 + DAY).isoformat()}]},
            "given at it_signoff before stage_entered_at",
        ),
        (
            {"stage": "proposed", "stage_entered_at": T0.isoformat(), "poc_results": {"metrics": {"f1": 1}}},
            "has not reached the PoC",
        ),
        ({"stage": "rollout"}, "stage"),
        ({"stage": "scrapped"}, "stage"),
    ],
)
def test_a_line_that_cannot_be_true_is_refused_with_why(fields: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        line(**fields)


def test_unknown_dates_of_earlier_stages_are_those_of_the_next_known_one() -> None:
    start = imported_start(
        line(stages_entered={"poc": (T0 + 10 * DAY).isoformat()}), imported_by="ada@x.com", import_id="i", number=3
    )
    assert start.stage is Stage.IT_SIGNOFF
    assert start.stages_entered == {
        "proposed": T0,
        "poc": T0 + 10 * DAY,
        "infra_review": T0 + 30 * DAY,  # unknown: entered when it_signoff was
    }


def test_the_same_references_are_the_same_initiative_whatever_else_changed() -> None:
    refs = [{"system": "servicenow", "ref": "DMND1"}, {"system": "jira", "ref": "AI-7"}]
    first = line(external_refs=refs)
    later = line(external_refs=list(reversed(refs)), title="Renamed since")
    assert first.initiative_id() == later.initiative_id()
    assert line().initiative_id() != line(title="Another").initiative_id()  # no references: the content
    assert line(external_refs=refs[:1]).initiative_id() != first.initiative_id()
    assert line().problem_at(T0 + 31 * DAY) is None
    assert line().problem_at(T0 + 29 * DAY) == "a date is in the future"
