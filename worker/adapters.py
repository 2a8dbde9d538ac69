"""Builds the ticketing system and the provisioner the settings ask for (explicit wiring, no registry)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg

from activities.provisioning import BuiltinProvisioner, Provisioner
from activities.ticketing import BuiltinTicketing, TicketingSystem
from worker.settings import Settings


@dataclass
class Integrations:
    """The adapters in use and how to close their HTTP clients."""

    ticketing: TicketingSystem
    provisioner: Provisioner
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def aclose(self) -> None:
        """Close every adapter's connections."""
        for close in self.closers:
            await close()


def _require(settings: Settings, *names: str) -> None:
    missing = [f"LIFTOFF_{n.upper()}" for n in names if getattr(settings, n) in (None, "")]
    if missing:
        msg = f"{', '.join(missing)} must be set for the chosen adapter"
        raise SystemExit(msg)


def build_ticketing(
    settings: Settings, pool: asyncpg.Pool, closers: list[Callable[[], Awaitable[None]]]
) -> TicketingSystem:
    """The ticketing adapter of ``LIFTOFF_TICKETING``."""
    if settings.ticketing == "jira":
        from activities.adapters.jira import JiraConfig, JiraTicketing

        _require(settings, "jira_url", "jira_email", "jira_api_token", "jira_project")
        assert settings.jira_api_token is not None
        jira = JiraTicketing(
            JiraConfig(
                url=str(settings.jira_url),
                email=str(settings.jira_email),
                api_token=settings.jira_api_token,
                project=str(settings.jira_project),
                issue_type=settings.jira_issue_type,
            )
        )
        closers.append(jira.aclose)
        return jira
    if settings.ticketing == "servicenow":
        from activities.adapters.servicenow import ServiceNowConfig, ServiceNowTicketing

        _require(settings, "servicenow_url")
        servicenow = ServiceNowTicketing(
            ServiceNowConfig(
                url=str(settings.servicenow_url),
                user=settings.servicenow_user,
                password=settings.servicenow_password,
                token=settings.servicenow_token,
                change_table=settings.servicenow_change_table,
                escalation_table=settings.servicenow_escalation_table,
            )
        )
        closers.append(servicenow.aclose)
        return servicenow
    return BuiltinTicketing(pool)


def build_provisioner(
    settings: Settings, pool: asyncpg.Pool, closers: list[Callable[[], Awaitable[None]]]
) -> Provisioner:
    """The provisioner of ``LIFTOFF_PROVISIONER``."""
    if settings.provisioner == "kubernetes":
        from activities.adapters.kubernetes import KubernetesConfig, KubernetesProvisioner

        _require(settings, "k8s_api_url", "k8s_token")
        assert settings.k8s_token is not None
        kubernetes = KubernetesProvisioner(
            KubernetesConfig(
                api_url=str(settings.k8s_api_url),
                token=settings.k8s_token,
                ca_file=settings.k8s_ca_file,
                insecure=settings.k8s_insecure,
            )
        )
        closers.append(kubernetes.aclose)
        return kubernetes
    if settings.provisioner == "webhook":
        from activities.adapters.webhook import WebhookConfig, WebhookProvisioner

        _require(settings, "webhook_url", "webhook_secret")
        assert settings.webhook_secret is not None
        # Poll for less than the rollout step's 5-minute timeout, so a slow portal is PROVISIONING_DELAY.
        webhook = WebhookProvisioner(
            WebhookConfig(url=str(settings.webhook_url), secret=settings.webhook_secret, poll_timeout_seconds=240)
        )
        closers.append(webhook.aclose)
        return webhook
    return BuiltinProvisioner(pool)


def build_integrations(settings: Settings, pool: asyncpg.Pool) -> Integrations:
    """Both adapters, from settings."""
    closers: list[Callable[[], Awaitable[None]]] = []
    return Integrations(
        ticketing=build_ticketing(settings, pool, closers),
        provisioner=build_provisioner(settings, pool, closers),
        closers=closers,
    )
