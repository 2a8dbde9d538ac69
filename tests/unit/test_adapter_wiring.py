"""Settings choose the adapters; missing settings fail with the variable names."""

from __future__ import annotations

from typing import Any

import pytest

from activities.adapters.jira import JiraTicketing
from activities.adapters.kubernetes import KubernetesProvisioner
from activities.adapters.servicenow import ServiceNowTicketing
from activities.adapters.webhook import WebhookProvisioner
from activities.provisioning import BuiltinProvisioner
from activities.ticketing import BuiltinTicketing
from worker.adapters import build_integrations
from worker.settings import Settings


def _settings(**values: Any) -> Settings:
    return Settings.model_validate(values)


async def test_defaults_are_the_built_in_adapters() -> None:
    integrations = build_integrations(_settings(), pool=None)  # type: ignore[arg-type]
    assert isinstance(integrations.ticketing, BuiltinTicketing)
    assert isinstance(integrations.provisioner, BuiltinProvisioner)
    await integrations.aclose()


async def test_each_adapter_is_built_from_its_settings() -> None:
    integrations = build_integrations(
        _settings(
            ticketing="jira",
            jira_url="https://example.atlassian.net",
            jira_email="bot@example.com",
            jira_api_token="secret-token",
            jira_project="LIFT",
            provisioner="kubernetes",
            k8s_api_url="https://127.0.0.1:6443",
            k8s_token="k8s-token",
            k8s_insecure=True,
        ),
        pool=None,  # type: ignore[arg-type]
    )
    assert isinstance(integrations.ticketing, JiraTicketing)
    assert isinstance(integrations.provisioner, KubernetesProvisioner)
    assert len(integrations.closers) == 2
    await integrations.aclose()

    other = build_integrations(
        _settings(
            ticketing="servicenow",
            servicenow_url="https://example.service-now.com",
            servicenow_token="sn-token",
            provisioner="webhook",
            webhook_url="https://portal.example.com/api",
            webhook_secret="hook-secret",
        ),
        pool=None,  # type: ignore[arg-type]
    )
    assert isinstance(other.ticketing, ServiceNowTicketing)
    assert isinstance(other.provisioner, WebhookProvisioner)
    await other.aclose()


def test_missing_settings_name_the_variables() -> None:
    with pytest.raises(SystemExit) as info:
        build_integrations(_settings(ticketing="jira", jira_url="https://x.atlassian.net"), pool=None)  # type: ignore[arg-type]
    assert str(info.value) == (
        "LIFTOFF_JIRA_EMAIL, LIFTOFF_JIRA_API_TOKEN, LIFTOFF_JIRA_PROJECT must be set for the chosen adapter"
    )


def test_secrets_do_not_show_in_settings_repr() -> None:
    settings = _settings(jira_api_token="very-secret", webhook_secret="also-secret")
    assert "very-secret" not in repr(settings)
    assert "also-secret" not in repr(settings)
