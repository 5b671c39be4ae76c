from __future__ import annotations

from datetime import date
from enum import StrEnum

from tenant_api.schemas import OutputModel


class BurstDecision(StrEnum):
    GRANTED = "granted"
    ALREADY_GRANTED_TODAY = "already_granted_today"
    NO_BURST_ALLOWANCE = "no_burst_allowance"
    BURST_DAYS_USED_UP = "burst_days_used_up"
    CUSTOMER_INACTIVE = "customer_inactive"


class BurstResult(OutputModel):
    """The gateway retries the limited request once when ``granted`` is true."""

    granted: bool
    reason: BurstDecision
    customer_id: str
    date: date
    daily_cap_usd_cents: int
    burst_days_used: int
    burst_days_per_month: int
