"""docker-compose.yml would start: valid, nothing it mounts is missing, and it configures only real settings.

There is no Docker engine on these machines; tests/e2e/test_topology.py runs the same topology natively.
The compose specification's JSON Schema is vendored in tests/fixtures (compose-spec/compose-spec, Apache-2.0).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema_rs
import pytest
import yaml

from worker.settings import OTHER_VARIABLES, Settings, unknown_variables
from workflows.search_attributes import CLI_TYPES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
LIFTOFF_SERVICES = ("liftoff-migrate", "liftoff-worker", "liftoff-api")
LONG_RUNNING = ("liftoff-worker", "liftoff-api")
SECRET_SETTINGS = {"approval_secret", "database_password", "jira_api_token", "servicenow_password", "k8s_token"}


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


def _interpolate(text: str) -> str:
    """Compose's ``${VAR:-default}`` with nothing set: the default ("" for a plain ``${VAR}``)."""
    return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-([^}]*))?\}", lambda m: m.group(1) or "", text)


def _seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration))


def test_the_file_is_valid_against_the_compose_specification() -> None:
    schema = json.loads((ROOT / "tests" / "fixtures" / "compose-spec.json").read_text(encoding="utf-8"))
    errors = [
        f"{'/'.join(map(str, e.instance_path))}: {e.message}"
        for e in jsonschema_rs.validator_for(schema).iter_errors(_compose())
    ]
    assert errors == []


def test_every_bind_mount_points_at_a_path_that_exists() -> None:
    mounts = []
    for name, service in _compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith((".", "/")):
                mounts.append((name, _interpolate(source)))
    assert mounts, "the liftoff services mount ./config"
    missing = [(name, source) for name, source in mounts if not (ROOT / source).exists()]
    assert missing == []


def test_the_config_files_it_names_exist_and_load() -> None:
    from api.principals import Directory
    from schemas.policy_file import load_policy

    environment = _compose()["services"]["liftoff-api"]["environment"]
    for variable in ("LIFTOFF_PRINCIPALS_FILE", "LIFTOFF_POLICY_FILE"):
        in_container = Path(_interpolate(environment[variable]))
        assert in_container.parent == Path("/config")
        assert (ROOT / "config" / in_container.name).is_file(), variable
    Directory.from_file(ROOT / "config" / Path(_interpolate(environment["LIFTOFF_PRINCIPALS_FILE"])).name)
    load_policy(ROOT / "config" / Path(_interpolate(environment["LIFTOFF_POLICY_FILE"])).name)


@pytest.mark.parametrize("name", LIFTOFF_SERVICES)
def test_every_liftoff_variable_is_a_real_setting(name: str) -> None:
    environment = _compose()["services"][name]["environment"]
    variables = {k: str(v) for k, v in environment.items() if k.startswith("LIFTOFF_")}
    assert variables
    assert unknown_variables(variables) == []
    Settings.model_validate({k.removeprefix("LIFTOFF_").lower(): _interpolate(v) for k, v in variables.items()})


@pytest.mark.parametrize("name", LIFTOFF_SERVICES)
def test_secrets_are_files_not_environment_variables(name: str) -> None:
    compose = _compose()
    service = compose["services"][name]
    inline = {k for k in service["environment"] if k.removeprefix("LIFTOFF_").lower() in SECRET_SETTINGS}
    assert inline == set()
    assert urlsplit(service["environment"]["LIFTOFF_DATABASE_URL"]).password is None  # not in the DSN
    targets = {s if isinstance(s, str) else s.get("target", s["source"]) for s in service["secrets"]}
    assert {"liftoff_approval_secret", "liftoff_database_password"} <= targets
    sources = {s if isinstance(s, str) else s["source"] for s in service["secrets"]}
    assert sources <= set(compose["secrets"])
    # each file name is the setting it sets (pydantic-settings reads /run/secrets/<prefix><field>)
    assert {t.removeprefix("liftoff_") for t in targets} <= set(Settings.model_fields)


def test_unknown_variables_are_reported_with_the_setting_they_resemble() -> None:
    found = unknown_variables(
        {"LIFTOFF_APROVAL_SECRET": "x", "LIFTOFF_API_PORT": "1", "LIFTOFF_CI_RUN": "ci", "PATH": "/"}
    )
    assert found == ["LIFTOFF_APROVAL_SECRET (did you mean LIFTOFF_APPROVAL_SECRET?)"]
    assert "LIFTOFF_API_URL" in OTHER_VARIABLES


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_liftoff_services_have_healthchecks_and_time_to_stop(name: str) -> None:
    service = _compose()["services"][name]
    assert service["healthcheck"]["test"][:3] == ["CMD", "liftoff", "healthcheck"]
    assert service["healthcheck"]["test"][3] == name.removeprefix("liftoff-")
    grace = float(service["environment"]["LIFTOFF_SHUTDOWN_GRACE_SECONDS"])
    assert _seconds(service["stop_grace_period"]) > grace  # SIGKILL only after liftoff's own grace


def test_published_ports_are_on_loopback() -> None:
    published = {
        name: service.get("ports", []) for name, service in _compose()["services"].items() if service.get("ports")
    }
    assert {"temporal", "temporal-ui", "liftoff-api"} <= set(published)
    assert all(str(port).startswith("127.0.0.1:") for ports in published.values() for port in ports), published


def test_temporal_settings_that_cannot_change_later_are_deliberate() -> None:
    services = _compose()["services"]
    assert int(services["temporal"]["environment"]["NUM_HISTORY_SHARDS"]) == 512
    namespace = services["temporal-create-namespace"]
    assert namespace["environment"]["RETENTION"] == "30d"
    assert '--retention "$$RETENTION"' in namespace["command"][0]


def test_the_search_attribute_job_creates_exactly_the_workflows_attributes() -> None:
    job = _compose()["services"]["temporal-search-attributes"]
    declared = dict(pair.split("=") for pair in job["environment"]["SEARCH_ATTRIBUTES"].split())
    assert declared == CLI_TYPES
    assert "for sa in $$SEARCH_ATTRIBUTES" in job["command"][0]
