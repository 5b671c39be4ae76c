"""Monitoring settings, read from the environment (tenant-api's ``Settings`` lacks them)."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class MonitoringSettings(BaseSettings):
    """``TENANT_API_*`` variables; every one has a working default."""

    model_config = SettingsConfigDict(env_prefix="TENANT_API_", extra="ignore")

    # Delivery of the outbox.
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    webhook_max_attempts: int = Field(default=20, ge=1, le=100)
    webhook_backoff_base_seconds: float = Field(default=5.0, gt=0)
    webhook_backoff_max_seconds: float = Field(default=3600.0, gt=0)
    webhook_batch_size: int = Field(default=100, ge=1, le=1000)
    webhook_max_in_flight_per_endpoint: int = Field(default=4, ge=1, le=100)
    # Scheduling: outbox polling on every replica, periodic jobs on one at a time.
    scheduler_enabled: bool = True
    delivery_interval_seconds: float = Field(default=1.0, gt=0)
    jobs_interval_seconds: float = Field(default=30.0, gt=0)
    heavy_user_min_days_at_cap: int = Field(default=15, ge=1, le=31)

    @model_validator(mode="after")
    def _backoff_order(self) -> MonitoringSettings:
        if self.webhook_backoff_max_seconds < self.webhook_backoff_base_seconds:
            raise ValueError("webhook_backoff_max_seconds must be >= webhook_backoff_base_seconds")
        return self

    @property
    def webhook_lease_seconds(self) -> float:
        """How long a claimed delivery stays invisible to other workers: longer than one
        attempt can take, so a live attempt is never duplicated by another replica."""
        return self.webhook_timeout_seconds * 2 + 30

    def backoff_seconds(self, attempts: int) -> float:
        """Wait before the next try after ``attempts`` failed ones (capped exponential)."""
        exponent = min(max(attempts - 1, 0), 30)
        return float(
            min(self.webhook_backoff_base_seconds * 2**exponent, self.webhook_backoff_max_seconds)
        )
