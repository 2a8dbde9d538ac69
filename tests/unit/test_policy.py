"""The policy file: the shipped default, user overrides laid over it, and quorum rules."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas.classification import RiskTier
from schemas.policy import Policy
from schemas.policy_file import default_policy_data, load_policy
from schemas.stages import Role, Stage


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_policy_loads_with_a_version_and_every_live_stage(policy: Policy) -> None:
    assert policy.version == default_policy_data()["version"]
    assert policy.version.strip() != ""
    assert set(policy.stages) == {Stage.PROPOSED, Stage.POC, Stage.INFRA_REVIEW, Stage.IT_SIGNOFF, Stage.ROLLOUT}


def test_default_slas_are_parsed_from_iso_8601(policy: Policy) -> None:
    assert policy.stages[Stage.PROPOSED].sla == timedelta(days=14)
    assert policy.stages[Stage.PROPOSED].abandon_after == timedelta(days=60)
    assert policy.stages[Stage.POC].sla == timedelta(days=90)
    assert policy.poc_sandbox.ttl == timedelta(days=90)


def test_high_risk_it_signoff_adds_security_and_compliance_after_the_base_quorum(policy: Policy) -> None:
    assert policy.required_roles(Stage.IT_SIGNOFF, RiskTier.HIGH) == [
        Role.IT_OPERATIONS,
        Role.BUSINESS_OWNER,
        Role.SECURITY,
        Role.COMPLIANCE,
    ]


def test_limited_risk_it_signoff_needs_only_the_base_quorum(policy: Policy) -> None:
    assert policy.required_roles(Stage.IT_SIGNOFF, RiskTier.LIMITED) == [Role.IT_OPERATIONS, Role.BUSINESS_OWNER]


def test_high_risk_adds_nothing_to_other_stages_and_rollout_needs_nobody(policy: Policy) -> None:
    assert policy.required_roles(Stage.PROPOSED, RiskTier.HIGH) == [Role.PORTFOLIO]
    assert policy.required_roles(Stage.ROLLOUT, RiskTier.HIGH) == []


def test_override_file_changes_only_the_stage_it_names(tmp_path: Path, policy: Policy) -> None:
    path = write(tmp_path, "stages: {poc: {sla: PT4S, abandon_after: PT12S}}\n")

    loaded = load_policy(path)

    assert loaded.stages[Stage.POC].sla == timedelta(seconds=4)
    assert loaded.stages[Stage.POC].abandon_after == timedelta(seconds=12)
    assert {s: p for s, p in loaded.stages.items() if s is not Stage.POC} == {
        s: p for s, p in policy.stages.items() if s is not Stage.POC
    }
    assert loaded.version == policy.version
    assert loaded.quorum == policy.quorum
    assert loaded.risk_quorum == policy.risk_quorum
    assert loaded.it_standards == policy.it_standards


def test_partial_stage_override_keeps_the_other_field_of_that_stage(tmp_path: Path, policy: Policy) -> None:
    loaded = load_policy(write(tmp_path, "stages: {poc: {sla: PT4S}}\n"))

    assert loaded.stages[Stage.POC].sla == timedelta(seconds=4)
    assert loaded.stages[Stage.POC].abandon_after == policy.stages[Stage.POC].abandon_after


@pytest.mark.parametrize(
    "text",
    [
        "colour: blue\n",
        "stages: {poc: {sla: PT4S, grace: PT1S}}\n",
        "it_standards: {max_gpus: 4}\n",
    ],
    ids=["top-level", "in-stage", "in-it-standards"],
)
def test_override_with_an_unknown_key_is_rejected(tmp_path: Path, text: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        load_policy(write(tmp_path, text))

    assert {e["type"] for e in excinfo.value.errors()} == {"extra_forbidden"}


def test_non_mapping_policy_file_raises_value_error(tmp_path: Path) -> None:
    path = write(tmp_path, "- stages\n- quorum\n")

    with pytest.raises(ValueError, match="a policy file must be a YAML mapping") as excinfo:
        load_policy(path)

    assert not isinstance(excinfo.value, ValidationError)


def test_empty_policy_file_yields_the_default(tmp_path: Path, policy: Policy) -> None:
    assert load_policy(write(tmp_path, "")) == policy


def test_a_daily_digest_and_quiet_hours_are_policy_options(tmp_path: Path) -> None:
    text = "notifications: {digest: {hour: 9, timezone: Europe/Berlin}, quiet_hours: {start: 20, end: 7}}\n"
    notices = load_policy(write(tmp_path, text)).notices
    assert notices.digest is not None
    assert (notices.digest.hour, notices.digest.timezone) == (9, "Europe/Berlin")
    assert notices.reminders_at == [0.5, 0.8]  # the default stays


@pytest.mark.parametrize("where", ["digest", "quiet_hours"])
def test_an_unknown_time_zone_is_refused_where_it_is_written(tmp_path: Path, where: str) -> None:
    extra = ", start: 20, end: 7" if where == "quiet_hours" else ""
    path = write(tmp_path, f"notifications: {{{where}: {{timezone: Mars/Olympus_Mons{extra}}}}}\n")
    with pytest.raises(ValueError, match=f"notifications.{where}.timezone: unknown time zone 'Mars/Olympus_Mons'"):
        load_policy(path)
