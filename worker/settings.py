"""Process settings from the environment (prefix ``LIFTOFF_``), built once and passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.contract import TASK_QUEUE


class Settings(BaseSettings):
    """Everything a liftoff process can be configured with."""

    model_config = SettingsConfigDict(env_prefix="LIFTOFF_", extra="ignore")

    database_url: str | None = Field(default=None, description="PostgreSQL DSN; unset: embedded server")
    temporal_address: str | None = Field(default=None, description="host:port; unset: embedded dev server")
    temporal_namespace: str = "default"
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

    def approval_secret_bytes(self) -> bytes | None:
        """The approval secret as bytes, or None when tokens are disabled."""
        if self.approval_secret is None or not self.approval_secret.get_secret_value():
            return None
        return self.approval_secret.get_secret_value().encode("utf-8")

    log_level: str = "INFO"
    log_format: str = Field(default="console", pattern="^(console|json)$")

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
