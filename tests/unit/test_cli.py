"""The ``liftoff`` command's offline subcommands."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.cli import run


def test_policy_check_prints_changes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "fast.yaml"
    policy.write_text("version: fast-1\nstages:\n  poc: {sla: PT4S, abandon_after: PT12S}\n", encoding="utf-8")
    assert run(["policy", "check", str(policy)]) == 0
    out = capsys.readouterr().out
    assert "valid (policy version fast-1)" in out
    assert "  stages.poc.sla: P90D -> PT4S" in out
    assert "  stages.poc.abandon_after: P180D -> PT12S" in out
    assert "stages.proposed" not in out
    assert "note:" not in out


def test_policy_check_warns_when_version_is_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "same.yaml"
    policy.write_text("it_standards: {max_gpu_count: 2}\n", encoding="utf-8")
    assert run(["policy", "check", str(policy)]) == 0
    out = capsys.readouterr().out
    assert "  it_standards.max_gpu_count: 8 -> 2" in out
    assert "keeps the default's version" in out


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("stages:\n  poc: {sla: soon}\n", "stages.poc.sla"), ("colour: blue\n", "colour"), ("- a\n", "mapping")],
)
def test_policy_check_rejects_invalid_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, fragment: str
) -> None:
    policy = tmp_path / "bad.yaml"
    policy.write_text(text, encoding="utf-8")
    assert run(["policy", "check", str(policy)]) == 1
    out = capsys.readouterr().out
    assert "invalid policy" in out
    assert fragment in out


def test_policy_check_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["policy", "check", str(tmp_path / "nope.yaml")]) == 1
    assert "no such file" in capsys.readouterr().out


def test_approval_token_needs_a_bearer(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIFTOFF_BEARER_TOKEN", raising=False)
    assert run(["approval-token", "abc", "--role", "portfolio", "--bearer", ""]) == 2
    assert "no bearer token" in capsys.readouterr().err


def test_replay_reports_each_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = Path(__file__).resolve().parent.parent / "histories" / "evidence_initiative-2b9d3aa1c74a513e.json"
    changed = tmp_path / "changed.json"
    # A history recorded by other code: an activity this code never schedules there.
    changed.write_text(good.read_text(encoding="utf-8").replace('"record_events"', '"record_eventz"', 1))
    assert run(["replay", str(good)]) == 0
    assert run(["replay", str(good), str(changed)]) == 1
    out = capsys.readouterr().out
    assert f"{good}: replays (170 events)" in out
    assert f"{changed}: FAILS: " in out


@pytest.mark.parametrize("command", ["worker", "api"])
def test_production_processes_refuse_to_run_unverified(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("LIFTOFF_APPROVAL_SECRET", "LIFTOFF_ALLOW_UNVERIFIED_APPROVALS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LIFTOFF_DATABASE_URL", "postgresql://nobody@127.0.0.1:9/none")
    monkeypatch.setenv("LIFTOFF_TEMPORAL_ADDRESS", "127.0.0.1:9")
    monkeypatch.setenv("LIFTOFF_PRINCIPALS_FILE", str(tmp_path / "principals.yaml"))
    with pytest.raises(SystemExit) as info:
        run([command])
    assert "LIFTOFF_APPROVAL_SECRET is not set" in str(info.value.code)
    assert "LIFTOFF_ALLOW_UNVERIFIED_APPROVALS=true" in str(info.value.code)


def test_unverified_must_be_chosen_explicitly(monkeypatch: pytest.MonkeyPatch) -> None:
    from worker.settings import Settings

    monkeypatch.delenv("LIFTOFF_APPROVAL_SECRET", raising=False)
    monkeypatch.setenv("LIFTOFF_ALLOW_UNVERIFIED_APPROVALS", "true")
    Settings().require_verified_approvals()  # allowed: no exit
    monkeypatch.setenv("LIFTOFF_APPROVAL_SECRET", "s3cret")
    monkeypatch.setenv("LIFTOFF_ALLOW_UNVERIFIED_APPROVALS", "false")
    Settings().require_verified_approvals()


def test_dev_banner_says_whether_approvals_are_verified(tmp_path: Path) -> None:
    from pydantic import SecretStr

    from worker.dev import DevOptions, _banner
    from worker.settings import Settings

    opts = DevOptions(data_dir=tmp_path)
    plain = _banner(Settings(approval_secret=None), opts, {}, 1.0)
    assert "approvals    UNVERIFIED" in plain
    assert "--verified" in plain
    signed = _banner(Settings(approval_secret=SecretStr("s")), opts, {}, 1.0)
    assert "approvals    verified" in signed
