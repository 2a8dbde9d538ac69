"""Settings from secret files, the database password outside the DSN, worker tuning."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from worker.settings import Settings
from worker.wiring import WorkerTuning


def test_secret_files_set_settings_and_the_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "liftoff_approval_secret").write_text("from-a-file\n")
    (tmp_path / "liftoff_database_password").write_text("p@ss:word/")
    monkeypatch.setenv("LIFTOFF_SECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("LIFTOFF_DATABASE_URL", "postgresql://liftoff@db.internal:5432/liftoff")
    monkeypatch.delenv("LIFTOFF_APPROVAL_SECRET", raising=False)
    settings = Settings.load()
    assert settings.approval_secret_bytes() == b"from-a-file"  # surrounding whitespace is not part of it
    assert settings.database_dsn() == "postgresql://liftoff:p%40ss%3Aword%2F@db.internal:5432/liftoff"
    monkeypatch.setenv("LIFTOFF_APPROVAL_SECRET", "from-the-environment")
    assert Settings.load().approval_secret_bytes() == b"from-the-environment"


def test_a_password_in_the_dsn_is_kept() -> None:
    settings = Settings(database_url="postgresql://a:inline@h/db", database_password=SecretStr("other"))
    assert settings.database_dsn() == "postgresql://a:inline@h/db"
    assert Settings(database_url="postgresql://a@h/db").database_dsn() == "postgresql://a@h/db"


def test_the_worker_caches_500_initiatives_by_default() -> None:
    assert WorkerTuning.from_settings(Settings()).worker_options()["max_cached_workflows"] == 500


def test_worker_tuning_comes_from_settings() -> None:
    settings = Settings(max_concurrent_activities=8, max_cached_workflows=200, shutdown_grace_seconds=12)
    options = WorkerTuning.from_settings(settings).worker_options()
    assert options == {
        "graceful_shutdown_timeout": timedelta(seconds=12),
        "max_concurrent_activities": 8,
        "max_cached_workflows": 200,
    }
