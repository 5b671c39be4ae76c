from __future__ import annotations

import datetime as dt

from tenant_api.reports.recommendation import Recommendation
from tenant_api.schemas import OutputModel

MONTH_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"


class HeavyUser(OutputModel):
    customer_id: str
    external_id: str
    plan: str
    days_at_cap: int
    spent_usd_micros: int
    revenue_usd_cents: int
    margin_usd_micros: int
    recommendation: Recommendation


class HeavyUsersReport(OutputModel):
    month: str
    min_days_at_cap: int
    data: list[HeavyUser]


class MarginFigures(OutputModel):
    customers: int
    seats: int
    revenue_usd_cents: int
    ai_cost_usd_micros: int
    worst_case_ai_cost_usd_micros: int
    margin_usd_micros: int
    worst_case_margin_usd_micros: int


class PlanMargin(MarginFigures):
    plan: str


class MarginReport(OutputModel):
    month: str
    days_in_month: int
    total: MarginFigures
    plans: list[PlanMargin]


class BurstCustomer(OutputModel):
    customer_id: str
    external_id: str
    plan: str
    burst_days_used: int
    burst_days_per_month: int
    days: list[dt.date]


class BurstsReport(OutputModel):
    month: str
    data: list[BurstCustomer]
