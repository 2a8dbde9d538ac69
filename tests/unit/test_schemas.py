"""Schema validation: API bodies, hand-typed update payloads, stage order and the reason taxonomy."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from schemas.decisions import ApproveInput
from schemas.initiative import SubmitInitiativeRequest
from schemas.stages import STAGE_ORDER, Role, Stage, next_stage
from schemas.taxonomy import TAXONOMY, ReasonCode, family_of
from tests.conftest import make_spec


def request_data(**overrides: Any) -> dict[str, Any]:
    data = make_spec().model_dump(mode="json")
    data.update(overrides)
    return data


def error_summary(exc: ValidationError) -> set[tuple[tuple[str | int, ...], str]]:
    return {(tuple(e["loc"]), e["type"]) for e in exc.errors()}


def test_valid_submission_is_accepted() -> None:
    req = SubmitInitiativeRequest.model_validate(request_data())

    assert req.title == "Churn prediction"
    assert req.budget_usd == 50_000
    assert [c.metric for c in req.poc_success_criteria] == ["auc"]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"owner": "x"}, {(("owner",), "extra_forbidden")}),
        ({"poc_success_criteria": []}, {(("poc_success_criteria",), "too_short")}),
        ({"budget_usd": -1}, {(("budget_usd",), "greater_than_equal")}),
        ({"risk_tier": "extreme"}, {(("risk_tier",), "enum")}),
    ],
    ids=["unknown-field", "no-criteria", "negative-budget", "bad-risk-tier"],
)
def test_invalid_submission_is_refused(overrides: dict[str, Any], expected: set[tuple[tuple[str], str]]) -> None:
    with pytest.raises(ValidationError) as excinfo:
        SubmitInitiativeRequest.model_validate(request_data(**overrides))

    assert error_summary(excinfo.value) == expected


def test_unknown_field_inside_infrastructure_is_refused() -> None:
    data = request_data()
    data["infrastructure"] = {**data["infrastructure"], "gpus": 2}

    with pytest.raises(ValidationError) as excinfo:
        SubmitInitiativeRequest.model_validate(data)

    assert error_summary(excinfo.value) == {(("infrastructure", "gpus"), "extra_forbidden")}


def test_approve_input_refuses_a_misspelled_approver() -> None:
    with pytest.raises(ValidationError) as excinfo:
        ApproveInput.model_validate({"aprover": "paula@example.com", "role": "portfolio"})

    assert error_summary(excinfo.value) == {(("approver",), "missing"), (("aprover",), "extra_forbidden")}


def test_approve_input_normalises_the_email_to_lower_case() -> None:
    inp = ApproveInput.model_validate({"approver": "  Paula@Example.COM ", "role": "portfolio"})

    assert inp.approver == "paula@example.com"
    assert inp.role is Role.PORTFOLIO


def test_approve_input_refuses_something_that_is_not_an_email() -> None:
    with pytest.raises(ValidationError) as excinfo:
        ApproveInput.model_validate({"approver": "paula", "role": "portfolio"})

    assert error_summary(excinfo.value) == {(("approver",), "string_pattern_mismatch")}


@pytest.mark.parametrize(
    ("stage", "following"),
    [
        (Stage.PROPOSED, Stage.POC),
        (Stage.POC, Stage.INFRA_REVIEW),
        (Stage.INFRA_REVIEW, Stage.IT_SIGNOFF),
        (Stage.IT_SIGNOFF, Stage.ROLLOUT),
        (Stage.ROLLOUT, Stage.PRODUCTION),
    ],
)
def test_next_stage_follows_the_path(stage: Stage, following: Stage) -> None:
    assert next_stage(stage) is following


def test_stage_order_ends_in_production_and_skips_scrapped() -> None:
    assert STAGE_ORDER[0] is Stage.PROPOSED
    assert STAGE_ORDER[-1] is Stage.PRODUCTION
    assert Stage.SCRAPPED not in STAGE_ORDER


@pytest.mark.parametrize("stage", [Stage.PRODUCTION, Stage.SCRAPPED])
def test_next_stage_of_a_terminal_stage_raises(stage: Stage) -> None:
    with pytest.raises(ValueError, match=f"^{stage.value} is terminal$"):
        next_stage(stage)


def test_every_reason_code_has_a_taxonomy_entry_under_its_own_code() -> None:
    assert set(TAXONOMY) == set(ReasonCode)
    for code, info in TAXONOMY.items():
        assert info.code is code
        assert info.description.strip() != ""
        assert family_of(code) is info.family


def test_median_of_counts_interpolates_as_percentile_cont() -> None:
    from db.reports_repo import median_of_counts

    assert median_of_counts([]) is None
    assert median_of_counts([(5, 1)]) == 5.0
    assert median_of_counts([(1, 1), (3, 1)]) == 2.0  # even: the two middle values, halved
    assert median_of_counts([(10, 2), (1, 3)]) == 1.0  # 1 1 1 10 10
    assert median_of_counts([(10, 2), (1, 2)]) == 5.5  # 1 1 10 10


def test_cohort_months_are_the_whole_utc_months_inside_the_window() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from db.reports_repo import cohort_months
    from schemas.reports import ReportFilters

    def at(year: int, month: int, day: int) -> datetime:
        return datetime(year, month, day, tzinfo=UTC)

    everything = cohort_months(ReportFilters())
    assert (everything[0].year, everything[1].year) == (1, 9999)
    assert cohort_months(ReportFilters(since=at(2026, 3, 1), until=at(2026, 6, 1))) == (at(2026, 3, 1), at(2026, 6, 1))
    assert cohort_months(ReportFilters(since=at(2026, 3, 2), until=at(2026, 6, 20))) == (at(2026, 4, 1), at(2026, 6, 1))
    assert cohort_months(ReportFilters(since=at(2026, 12, 5)))[0] == at(2027, 1, 1)
    # 2026-03-01 00:30 in Berlin is still February in UTC: March is whole
    berlin = datetime(2026, 3, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    assert cohort_months(ReportFilters(since=berlin, until=at(2026, 5, 1))) == (at(2026, 3, 1), at(2026, 5, 1))
    # inside one month: no whole month, every row counted
    assert cohort_months(ReportFilters(since=at(2026, 3, 2), until=at(2026, 3, 20))) == (at(2026, 3, 20),) * 2
    # a team or business unit has counters of its own (migration 0015): the same whole months
    assert cohort_months(ReportFilters(team="t", until=at(2026, 3, 20)))[1] == at(2026, 3, 1)


def test_a_moment_in_a_body_is_a_string_never_a_number() -> None:
    from pydantic import ValidationError

    from schemas.backtest import BacktestRequest

    assert BacktestRequest.model_validate({"policy": {}, "until": "2026-01-01T00:00:00Z"}).until is not None
    for number in (0, 1_700_000_000, 1.5, True):
        with pytest.raises(ValidationError):
            BacktestRequest.model_validate({"policy": {}, "until": number})
