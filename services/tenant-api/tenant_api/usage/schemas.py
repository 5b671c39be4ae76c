from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, Field

from tenant_api.models import UsageOutcome
from tenant_api.schemas import InputModel, OutputModel

MAX_EVENTS_PER_BATCH = 500

NonNegative = Annotated[int, Field(strict=True, ge=0, le=2**62)]
TokenCount = Annotated[int, Field(strict=True, ge=0, le=2**31 - 1)]


class UsageEventIn(InputModel):
    id: str = Field(min_length=1, max_length=200, description="The request id; unique.")
    customer_id: str = Field(min_length=1, max_length=64)
    outcome: UsageOutcome
    cost_usd_micros: NonNegative
    input_tokens: TokenCount
    output_tokens: TokenCount
    model: str | None = Field(default=None, max_length=200)
    occurred_at: AwareDatetime | None = Field(
        default=None, description="Defaults to the database's now()."
    )


class UsageEventBatch(InputModel):
    events: list[UsageEventIn] = Field(max_length=MAX_EVENTS_PER_BATCH)


class UsageEventsAccepted(OutputModel):
    accepted: int
    duplicates: int


class UsageSource(StrEnum):
    SATURN = "saturn"  # Saturn's per-day usage extension (saturn-local)
    SATURN_TODAY = "saturn_today"  # only today's spend, from Saturn's admin agent list
    EVENTS = "events"  # Saturn unreachable: the gateway's recorded events only


class UsageToday(OutputModel):
    date: dt.date
    spent_usd_micros: int
    daily_cap_usd_cents: int
    remaining_usd_micros: int
    resets_at: dt.datetime
    at_cap: bool


class UsageMonth(OutputModel):
    month: str
    spent_usd_micros: int
    requests: int
    limited_requests: int
    days_at_cap: int


class UsageDayOut(OutputModel):
    date: dt.date
    spent_usd_micros: int
    requests: int
    limited_requests: int
    at_cap: bool


class UsageRead(OutputModel):
    customer_id: str
    plan: str
    source: UsageSource
    today: UsageToday
    month: UsageMonth
    days: list[UsageDayOut]
