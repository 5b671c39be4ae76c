"""Settings, read from the environment (names as in DESIGN.md "Stack wiring")."""

from __future__ import annotations

from functools import cached_property

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PLACEHOLDERS = {"", "changeme", "change-me", "secret", "placeholder"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    tenant_api_url: str = "http://127.0.0.1:8001"
    saturn_base_url: str = "http://127.0.0.1:8002"
    copilot_service_token: SecretStr
    copilot_token_secret: SecretStr

    gateway_max_body_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    # Upper bound 5 s: a churned customer must be refused within that time.
    gateway_resolve_cache_seconds: float = Field(default=5.0, ge=0, le=5)
    gateway_saturn_timeout_seconds: float = Field(default=30.0, gt=0)
    gateway_saturn_connect_timeout_seconds: float = Field(default=1.0, gt=0)
    gateway_saturn_max_connections: int = Field(default=512, gt=0)
    gateway_default_max_output_tokens: int = Field(default=1024, gt=0)
    gateway_max_output_tokens: int = Field(default=4096, gt=0)

    gateway_tenant_api_timeout_seconds: float = Field(default=5.0, gt=0)
    gateway_tenant_api_connect_timeout_seconds: float = Field(default=1.0, gt=0)
    gateway_tenant_api_max_connections: int = Field(default=64, gt=0)

    gateway_usage_batch_size: int = Field(default=200, gt=0, le=500)  # tenant-api takes <= 500
    gateway_usage_flush_interval_seconds: float = Field(default=0.2, gt=0)
    gateway_usage_max_queue: int = Field(default=100_000, gt=0)
    gateway_usage_retry_max_seconds: float = Field(default=5.0, gt=0)
    gateway_usage_shutdown_timeout_seconds: float = Field(default=5.0, ge=0)

    # How often a customer's "spent today" is re-read from tenant-api in the background.
    gateway_spend_refresh_seconds: float = Field(default=30.0, gt=0)

    # A refusal at the daily cap waits at most this long for tenant-api's burst answer; a
    # failed burst request is not repeated for a customer within the back-off.
    gateway_burst_timeout_seconds: float = Field(default=3.0, gt=0)
    gateway_burst_failure_backoff_seconds: float = Field(default=5.0, ge=0)

    log_level: str = "INFO"

    @field_validator("copilot_service_token", "copilot_token_secret")
    @classmethod
    def _refuse_placeholder(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value().strip().lower() in _PLACEHOLDERS:
            raise ValueError("must be set to a real secret")
        return value

    @cached_property
    def token_secret_bytes(self) -> bytes:
        """Computed once: the HMAC key for verifying access tokens on every request."""
        return self.copilot_token_secret.get_secret_value().encode()

    @property
    def effective_default_max_output_tokens(self) -> int:
        return min(self.gateway_default_max_output_tokens, self.gateway_max_output_tokens)
