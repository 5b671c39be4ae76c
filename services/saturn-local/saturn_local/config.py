"""saturn-local settings, read from the environment names the stack uses."""

from __future__ import annotations

from enum import StrEnum

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ProviderName(StrEnum):
    OFFLINE = "offline"
    OPENAI = "openai"
    ANTHROPIC = "anthropic"


DEFAULT_MODELS = {
    ProviderName.OFFLINE: "offline-extractive-1",
    ProviderName.OPENAI: "gpt-4o-mini",
    ProviderName.ANTHROPIC: "claude-3-5-haiku-latest",
}


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class Settings(BaseSettings):
    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")

    database_url: str = Field(validation_alias=_env("SATURN_LOCAL_DATABASE_URL"))
    bootstrap_key: SecretStr | None = Field(
        default=None, validation_alias=_env("SATURN_LOCAL_BOOTSTRAP_KEY")
    )
    provider: ProviderName = Field(
        default=ProviderName.OFFLINE, validation_alias=_env("SATURN_LLM_PROVIDER")
    )
    default_model: str | None = Field(
        default=None, validation_alias=_env("SATURN_LOCAL_DEFAULT_MODEL")
    )
    offline_latency_ms: int = Field(default=0, ge=0, validation_alias=_env("OFFLINE_LATENCY_MS"))
    openai_base_url: str = Field(
        default="https://api.openai.com/v1", validation_alias=_env("OPENAI_BASE_URL")
    )
    openai_api_key: SecretStr | None = Field(default=None, validation_alias=_env("OPENAI_API_KEY"))
    anthropic_base_url: str = Field(
        default="https://api.anthropic.com", validation_alias=_env("ANTHROPIC_BASE_URL")
    )
    anthropic_api_key: SecretStr | None = Field(
        default=None, validation_alias=_env("ANTHROPIC_API_KEY")
    )
    provider_timeout_seconds: float = Field(
        default=60.0, gt=0, validation_alias=_env("SATURN_LOCAL_PROVIDER_TIMEOUT_SECONDS")
    )
    # Must outlive the provider timeout, or the sweeper could void a hold still in use.
    hold_ttl_seconds: int = Field(
        default=300, gt=0, validation_alias=_env("SATURN_LOCAL_HOLD_TTL_SECONDS")
    )
    sweep_interval_seconds: float = Field(
        default=5.0, gt=0, validation_alias=_env("SATURN_LOCAL_SWEEP_INTERVAL_SECONDS")
    )
    max_body_bytes: int = Field(
        default=10 * 1024 * 1024, gt=0, validation_alias=_env("SATURN_LOCAL_MAX_BODY_BYTES")
    )
    default_max_tokens: int = Field(
        default=1024, gt=0, validation_alias=_env("SATURN_LOCAL_DEFAULT_MAX_TOKENS")
    )
    # A new agent's daily cap until the client PATCHes its policy (the real server's default
    # is 10,000 sats/day, about $10); unset/empty env = no limit.
    default_daily_cap_usd_cents: int | None = Field(
        default=1000, gt=0, validation_alias=_env("SATURN_LOCAL_DEFAULT_DAILY_CAP_USD_CENTS")
    )
    db_pool_size: int = Field(default=10, gt=0, validation_alias=_env("SATURN_LOCAL_DB_POOL_SIZE"))
    log_level: str = Field(default="INFO", validation_alias=_env("SATURN_LOCAL_LOG_LEVEL"))

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.hold_ttl_seconds <= self.provider_timeout_seconds:
            raise ValueError(
                "SATURN_LOCAL_HOLD_TTL_SECONDS must be greater than the provider timeout"
            )
        return self

    @property
    def model(self) -> str:
        return self.default_model or DEFAULT_MODELS[self.provider]
