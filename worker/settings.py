"""Process settings from the environment (prefix ``LIFTOFF_``), built once and passed down."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.contract import TASK_QUEUE

#: Where Docker and Kubernetes put secrets as files: a file named after a setting (``liftoff_approval_secret``)
#: sets it, so a secret never has to be an environment variable. ``LIFTOFF_SECRETS_DIR`` points elsewhere.
DEFAULT_SECRETS_DIR = Path("/run/secrets")
#: ``LIFTOFF_*`` variables read outside the settings (the CLI's client commands, CI, the secrets directory).
OTHER_VARIABLES = frozenset({"LIFTOFF_API_URL", "LIFTOFF_BEARER_TOKEN", "LIFTOFF_CI_RUN", "LIFTOFF_SECRETS_DIR"})


def _secrets_dir() -> Path | None:
    configured = os.environ.get("LIFTOFF_SECRETS_DIR")
    if configured:
        return Path(configured)
    return DEFAULT_SECRETS_DIR if DEFAULT_SECRETS_DIR.is_dir() else None


class Settings(BaseSettings):
    """Everything a liftoff process can be configured with."""

    model_config = SettingsConfigDict(env_prefix="LIFTOFF_", extra="ignore")

    @classmethod
    def load(cls) -> Settings:
        """The process's settings: environment variables, then secret files (``/run/secrets``), then defaults."""
        return cls(_secrets_dir=_secrets_dir())

    database_url: str | None = Field(default=None, description="PostgreSQL DSN; unset: embedded server")
    database_password: SecretStr | None = Field(
        default=None, description="the database password, kept out of the DSN (e.g. a secret file)"
    )
    database_pool_size: int = Field(default=10, ge=1, le=200, description="connections per process, at most")
    temporal_address: str | None = Field(default=None, description="host:port; unset: embedded dev server")
    temporal_namespace: str = "default"
    temporal_api_key: SecretStr | None = Field(
        default=None, description="bearer token for a Temporal server that runs its JWT authorizer"
    )
    task_queue: str = TASK_QUEUE
    principals_file: Path | None = None
    policy_file: Path | None = None
    ui_base_url: str = "http://127.0.0.1:8233"
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    approval_secret: SecretStr | None = Field(
        default=None, description="enables signed approval tokens (API signs, worker verifies)"
    )
    approval_token_ttl_seconds: int = Field(default=900, ge=30)
    allow_unverified_approvals: bool = Field(
        default=False,
        description="run `liftoff worker` / `liftoff api` without an approval secret (asserted identities)",
    )
    api_temporal_timeout_seconds: float = Field(
        default=20, gt=0, le=300, description="the API answers 504 when one Temporal call takes longer"
    )
    api_decision_wait_seconds: float = Field(
        default=20, gt=0, le=300, description="a decision not applied within this answers 202 (applied later)"
    )

    def approval_secret_bytes(self) -> bytes | None:
        """The approval secret as bytes, or None when tokens are disabled."""
        if self.approval_secret is None or not self.approval_secret.get_secret_value():
            return None
        return self.approval_secret.get_secret_value().encode("utf-8")

    # Sign-in with the company's identity provider (OpenID Connect); unset: static bearer tokens only.
    oidc_issuer: str | None = Field(default=None, description="issuer URL (discovery at /.well-known/…)")
    oidc_audience: str | None = Field(default=None, description="the aud a token must carry (the API's client id)")
    oidc_email_claim: str = "email"
    oidc_groups_claim: str = "groups"
    oidc_client_id: str | None = Field(default=None, description="for the dashboard's sign-in; default the audience")
    oidc_client_secret: SecretStr | None = None
    public_url: str | None = Field(default=None, description="the API's URL as browsers reach it (sign-in callback)")

    # Integrations (see README, "Integrations"): which adapter, and each adapter's settings.
    ticketing: Literal["builtin", "jira", "servicenow"] = "builtin"
    provisioner: Literal["builtin", "kubernetes", "webhook"] = "builtin"
    jira_url: str | None = None
    jira_email: str | None = None
    jira_api_token: SecretStr | None = None
    jira_project: str | None = None
    jira_issue_type: str = "Task"
    jira_webhook_secret: SecretStr | None = None
    servicenow_url: str | None = None
    servicenow_user: str | None = None
    servicenow_password: SecretStr | None = None
    servicenow_token: SecretStr | None = None
    servicenow_change_table: str = "change_request"
    servicenow_escalation_table: str = "incident"
    servicenow_webhook_secret: SecretStr | None = None
    k8s_api_url: str | None = None
    k8s_token: SecretStr | None = None
    k8s_ca_file: Path | None = None
    k8s_insecure: bool = False
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    canary_url: str | None = Field(
        default=None, description="health URL checked before promotion; {ref} is the environment's reference"
    )
    # Notifications (README, "The approver's desk"): each channel is on when its settings are given.
    smtp_host: str | None = Field(default=None, description="email notifications over this SMTP server")
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_from: str | None = Field(default=None, description="the sender address of notification emails")
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    slack_webhook_url: SecretStr | None = Field(default=None, description="a Slack incoming webhook")
    teams_webhook_url: SecretStr | None = Field(default=None, description="a Microsoft Teams workflow webhook")
    log_level: str = "INFO"
    log_format: str = Field(default="console", pattern="^(console|json)$")

    # Running in production (README, "Running in production").
    metrics_address: str | None = Field(
        default=None, description="host:port on which the process serves Prometheus text at /metrics"
    )
    shutdown_grace_seconds: float = Field(
        default=30, ge=0, le=600, description="on SIGTERM, how long in-flight requests and activities may finish"
    )
    max_concurrent_workflow_tasks: int | None = Field(default=None, ge=2, le=10_000)
    max_concurrent_activities: int | None = Field(default=None, ge=1, le=10_000)
    #: Each cached initiative holds its own sandboxed copy of the workflow modules: about 0.6 MB measured with
    #: ``bench.scale`` (10,000 open: 682 MB at the SDK's 1,000 cached, 431 MB at 500; target < 600), 0.37 MB
    #: since the copies share their code objects (283 MB at 500). A cold decision (its history replayed) costs
    #: about 60 ms more than a warm one, so a smaller cache costs little.
    max_cached_workflows: int | None = Field(default=500, ge=0, le=1_000_000)
    # Imports (README, "Bringing in your existing portfolio"): how fast the API starts imported initiatives.
    import_rate: float = Field(
        default=20, gt=0, le=1000, description="imported initiatives started per second, at most"
    )
    import_concurrency: int = Field(default=4, ge=1, le=100, description="imported initiatives started at once")

    def database_dsn(self) -> str:
        """The DSN with ``database_password`` filled in when the DSN names no password."""
        dsn = self.require_database_url()
        if self.database_password is None:
            return dsn
        parts = urlsplit(dsn)
        if parts.password is not None or parts.username is None:
            return dsn
        password = quote(self.database_password.get_secret_value(), safe="")
        netloc = f"{parts.username}:{password}@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))

    def temporal_token(self) -> str | None:
        """The Temporal bearer token, or None."""
        return self.temporal_api_key.get_secret_value() if self.temporal_api_key else None

    def require_verified_approvals(self) -> None:
        """Refuse to run a production process without an approval secret, unless explicitly allowed."""
        if self.approval_secret_bytes() is None and not self.allow_unverified_approvals:
            msg = (
                "LIFTOFF_APPROVAL_SECRET is not set: decisions would carry only the email the sender typed. "
                "Set it (the same value for the API and every worker), or set "
                "LIFTOFF_ALLOW_UNVERIFIED_APPROVALS=true to accept unverified approvals knowingly."
            )
            raise SystemExit(msg)

    def require_database_url(self) -> str:
        """The DSN, or a clear error for commands that need a real server."""
        if not self.database_url:
            msg = "LIFTOFF_DATABASE_URL is not set (only `liftoff dev` starts an embedded PostgreSQL)"
            raise SystemExit(msg)
        return self.database_url

    def require_temporal_address(self) -> str:
        """The Temporal address, or a clear error."""
        if not self.temporal_address:
            msg = "LIFTOFF_TEMPORAL_ADDRESS is not set (only `liftoff dev` starts an embedded Temporal)"
            raise SystemExit(msg)
        return self.temporal_address


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """``LIFTOFF_*`` variables that configure nothing (a typo hides a setting), each with a close match if any."""
    names = {f"LIFTOFF_{name.upper()}" for name in Settings.model_fields}
    known = names | OTHER_VARIABLES
    found = []
    for variable in sorted(environ if environ is not None else os.environ):
        if variable.startswith("LIFTOFF_") and variable not in known:
            close = difflib.get_close_matches(variable, sorted(names), n=1)
            found.append(f"{variable} (did you mean {close[0]}?)" if close else variable)
    return found
