from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, model_validator

from tenant_api.schemas import InputModel, OutputModel

# The agent is named after it at Saturn, so keep it to URL- and log-safe characters.
EXTERNAL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@+\-]{0,127}$"
MAX_LIMIT = 100

Name = Annotated[str, Field(min_length=1, max_length=200)]
Tier = Annotated[str, Field(min_length=1, max_length=64)]
Seats = Annotated[int, Field(strict=True, ge=1, le=1_000_000)]


class CustomerStatusOut(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    CHURNED = "churned"


class CustomerCreate(InputModel):
    external_id: str = Field(pattern=EXTERNAL_ID_PATTERN)
    name: Name
    plan: Tier
    seats: Seats = 1


class CustomerUpdate(InputModel):
    plan: Tier | None = None
    name: Name | None = None
    seats: Seats | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            nulls = [key for key in ("plan", "name", "seats") if key in data and data[key] is None]
            if nulls:
                raise ValueError(f"{', '.join(nulls)} may be left out but not set to null")
        return data


class CustomerRead(OutputModel):
    id: str
    external_id: str
    name: str
    plan: str = Field(validation_alias="plan_tier")
    seats: int
    status: CustomerStatusOut
    agent_id: str | None
    agent_key_last4: str | None
    daily_cap_usd_cents: int
    per_call_cap_usd_cents: int
    created_at: datetime
    updated_at: datetime


class CustomerList(OutputModel):
    data: list[CustomerRead]
    next_cursor: str | None


class AccessTokenCreate(InputModel):
    ttl_seconds: Annotated[int, Field(strict=True, ge=60, le=30 * 24 * 3600)] | None = None


class AccessTokenRead(OutputModel):
    token: str
    expires_at: datetime


class AgentResolution(OutputModel):
    """What the gateway needs to call Saturn for this customer."""

    customer_id: str
    status: CustomerStatusOut
    plan: str
    agent_id: str | None
    agent_api_key: str | None
    daily_cap_usd_cents: int
    per_call_cap_usd_cents: int
    upgrade_url: str
    # Lets the gateway skip asking for a burst when the plan has none.
    burst_days_per_month: int
