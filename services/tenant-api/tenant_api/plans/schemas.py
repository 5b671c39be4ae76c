from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from tenant_api.schemas import InputModel, OutputModel

TIER_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"

Cents = Annotated[int, Field(strict=True, ge=1, le=100_000_000)]


class PlanRead(OutputModel):
    tier: str
    name: str
    daily_cap_usd_cents: int
    per_call_cap_usd_cents: int
    seat_price_usd_cents: int
    burst_multiplier_percent: int
    burst_days_per_month: int
    rollover_max_usd_cents: int
    upgrade_url: str


class PlanList(OutputModel):
    data: list[PlanRead]


class PlanUpsert(InputModel):
    """The whole plan (PUT replaces it); the tier comes from the path."""

    name: str = Field(min_length=1, max_length=100)
    daily_cap_usd_cents: Cents
    per_call_cap_usd_cents: Cents
    seat_price_usd_cents: Annotated[int, Field(strict=True, ge=0, le=100_000_000)]
    burst_multiplier_percent: Annotated[int, Field(strict=True, ge=100, le=1000)] = 100
    burst_days_per_month: Annotated[int, Field(strict=True, ge=0, le=31)] = 0
    rollover_max_usd_cents: Annotated[int, Field(strict=True, ge=0, le=100_000_000)] = 0
    upgrade_url: str = Field(default="/pricing", min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _per_call_within_daily(self) -> PlanUpsert:
        if self.per_call_cap_usd_cents > self.daily_cap_usd_cents:
            raise ValueError("per_call_cap_usd_cents may not exceed daily_cap_usd_cents")
        return self
