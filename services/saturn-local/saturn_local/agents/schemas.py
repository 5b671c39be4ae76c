"""Request bodies of the management routes (camelCase on the wire, unknown keys dropped as
the real server's zod schemas drop them)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator
from pydantic.alias_generators import to_camel

PositiveInt = Annotated[StrictInt, Field(gt=0, le=10**12)]


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class _Body(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # Postgres text and jsonb cannot hold NUL: refuse it here (400), not in the database.
        if _has_nul(value):
            raise ValueError("must not contain NUL characters")
        return value


class AgentCreate(_Body):
    name: Annotated[str, Field(min_length=1, max_length=255)]
    metadata: dict[str, Any] | None = None


class SettableStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class AgentUpdate(_Body):
    name: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    metadata: dict[str, Any] | None = None
    status: SettableStatus | None = None


class PolicyPatch(_Body):
    """``null`` = no limit; 0 or a negative cap is refused (as the real server does).

    The sats fields are converted at the nominal rate; USD wins when both are sent.
    """

    max_per_call_usd_cents: PositiveInt | None = None
    max_per_day_usd_cents: PositiveInt | None = None
    max_per_call_sats: PositiveInt | None = None
    max_per_day_sats: PositiveInt | None = None
    kill_switch: StrictBool | None = None
    # Accepted for compatibility; saturn-local has no wallet and a single capability.
    max_balance_sats: PositiveInt | None = None
    allowed_services: list[str] | None = None
    denied_services: list[str] | None = None
    allowed_capabilities: list[str] | None = None
    denied_capabilities: list[str] | None = None
