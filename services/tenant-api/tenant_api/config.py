"""tenant-api settings, read from the environment (names in DESIGN.md / common.md)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from copilot_kit.crypto import Keyring

_MIN_SECRET_CHARS = 16


class Settings(BaseSettings):
    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")

    # Not a SecretStr (callers need the plain URL), but kept out of reprs: it may hold a password.
    database_url: str = Field(
        repr=False, validation_alias=AliasChoices("TENANT_API_DATABASE_URL", "database_url")
    )
    admin_token: SecretStr = Field(
        validation_alias=AliasChoices("COPILOT_ADMIN_TOKEN", "admin_token")
    )
    service_token: SecretStr = Field(
        validation_alias=AliasChoices("COPILOT_SERVICE_TOKEN", "service_token")
    )
    token_secret: SecretStr = Field(
        validation_alias=AliasChoices("COPILOT_TOKEN_SECRET", "token_secret")
    )
    encryption_keys: SecretStr = Field(
        validation_alias=AliasChoices("COPILOT_ENCRYPTION_KEYS", "encryption_keys")
    )
    saturn_base_url: str = Field(
        default="http://127.0.0.1:8002",
        validation_alias=AliasChoices("SATURN_BASE_URL", "saturn_base_url"),
    )
    saturn_admin_key: SecretStr = Field(
        validation_alias=AliasChoices("SATURN_ADMIN_KEY", "saturn_admin_key")
    )
    saturn_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        validation_alias=AliasChoices(
            "TENANT_API_SATURN_TIMEOUT_SECONDS", "saturn_timeout_seconds"
        ),
    )
    access_token_default_ttl_seconds: int = Field(default=3600, ge=60)
    access_token_max_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=60)
    db_pool_size: int = Field(
        default=10, ge=1, validation_alias=AliasChoices("TENANT_API_DB_POOL_SIZE", "db_pool_size")
    )

    @field_validator("admin_token", "service_token", "token_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < _MIN_SECRET_CHARS:
            raise ValueError(f"must be at least {_MIN_SECRET_CHARS} characters")
        return value

    @field_validator("encryption_keys")
    @classmethod
    def _keyring_parses(cls, value: SecretStr) -> SecretStr:
        Keyring.parse(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _tokens_differ(self) -> Settings:
        # The 401/403 split relies on each kind of token being distinguishable.
        if self.admin_token.get_secret_value() == self.service_token.get_secret_value():
            raise ValueError("COPILOT_ADMIN_TOKEN and COPILOT_SERVICE_TOKEN must differ")
        return self

    def keyring(self) -> Keyring:
        return Keyring.parse(self.encryption_keys.get_secret_value())
