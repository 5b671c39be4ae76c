"""Reads of usage per customer-day and of the effective cap of each customer-day.

Usage is read from ``usage_day_totals``: a running aggregate of ``usage_events`` (written by
the usage domain) per customer and UTC day of ``occurred_at``, kept by a trigger in the
transaction that inserts the events (migration 0003), so a read costs the same however many
events the day holds. Every query of it lives here. A customer-day is *at cap* when a request
was refused for the daily cap that day, or the day's spend reached the cap in force that day
(``daily_caps`` when rollover or a burst changed it, else the customer's cap).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from copilot_kit.money import MICROS_PER_CENT

USAGE_TOTALS_TABLE = "usage_day_totals"


def day_start(day: date) -> datetime:
    """00:00 UTC of ``day``, the instant the daily cap resets."""
    return datetime.combine(day, time(0), tzinfo=UTC)


def month_bounds(month_start: date) -> tuple[date, date]:
    """The first day of the month and of the next one."""
    first = month_start.replace(day=1)
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first, following


async def db_today(session: AsyncSession) -> date:
    """Today's UTC date by the database clock."""
    today: date = (
        await session.execute(text("SELECT (now() AT TIME ZONE 'UTC')::date"))
    ).scalar_one()
    return today


@dataclass(frozen=True)
class CustomerDay:
    customer_id: str
    day: date
    spent_usd_micros: int
    requests: int
    limited_requests: int
    daily_limited_requests: int
    daily_cap_usd_cents: int

    @property
    def at_cap(self) -> bool:
        return self.daily_limited_requests > 0 or (
            self.spent_usd_micros >= self.daily_cap_usd_cents * MICROS_PER_CENT
        )


_CUSTOMER_DAYS_SQL = f"""
SELECT t.customer_id, t.day, t.spent_usd_micros, t.requests, t.limited_requests,
       t.daily_limited_requests,
       coalesce(dc.daily_cap_usd_cents, c.daily_cap_usd_cents) AS daily_cap_usd_cents
FROM {USAGE_TOTALS_TABLE} t
JOIN customers c ON c.id = t.customer_id
LEFT JOIN daily_caps dc ON dc.customer_id = t.customer_id AND dc.day = t.day
WHERE t.day >= :first_day AND t.day < :end_day
  {{customer_filter}}
ORDER BY t.customer_id, t.day
"""


def _customer_days_sql(*, by_customer: bool) -> str:
    # Two statements rather than one "ids IS NULL OR ..." so each gets an index-friendly plan.
    return _CUSTOMER_DAYS_SQL.replace(
        "{customer_filter}", "AND t.customer_id = ANY(:customer_ids)" if by_customer else ""
    )


async def customer_days(
    session: AsyncSession,
    *,
    first_day: date,
    end_day: date,
    customer_ids: Sequence[str] | None = None,
) -> list[CustomerDay]:
    """Every customer-day with usage in ``[first_day, end_day)``, with its cap and at-cap."""
    params: dict[str, object] = {"first_day": first_day, "end_day": end_day}
    if customer_ids is not None:
        params["customer_ids"] = list(customer_ids)
    rows = await session.execute(
        text(_customer_days_sql(by_customer=customer_ids is not None)), params
    )
    return [
        CustomerDay(
            customer_id=row.customer_id,
            day=row.day,
            spent_usd_micros=int(row.spent_usd_micros),
            requests=int(row.requests),
            limited_requests=int(row.limited_requests),
            daily_limited_requests=int(row.daily_limited_requests),
            daily_cap_usd_cents=int(row.daily_cap_usd_cents),
        )
        for row in rows
    ]


async def effective_daily_caps(
    session: AsyncSession, customer_ids: Sequence[str], day: date
) -> dict[str, int]:
    """The daily cap in force for each customer on ``day`` (rollover/burst included)."""
    if not customer_ids:
        return {}
    rows = await session.execute(
        text(
            # A row made before a plan change (other base cap) no longer applies.
            "SELECT c.id, CASE WHEN dc.base_cap_usd_cents = c.daily_cap_usd_cents "
            "THEN dc.daily_cap_usd_cents ELSE c.daily_cap_usd_cents END AS cap "
            "FROM customers c LEFT JOIN daily_caps dc ON dc.customer_id = c.id AND dc.day = :day "
            "WHERE c.id = ANY(:ids)"
        ),
        {"ids": list(customer_ids), "day": day},
    )
    return {row.id: int(row.cap) for row in rows}


async def spent_on_day(
    session: AsyncSession, customer_ids: Sequence[str], day: date
) -> dict[str, int]:
    """Each customer's spend on ``day`` (customers without usage map to 0)."""
    days = await customer_days(
        session, first_day=day, end_day=day + timedelta(days=1), customer_ids=customer_ids
    )
    spent = dict.fromkeys(customer_ids, 0)
    for item in days:
        spent[item.customer_id] = item.spent_usd_micros
    return spent


@dataclass(frozen=True)
class MonthTotals:
    spent_usd_micros: int
    requests: int
    days_at_cap: int


async def month_totals(session: AsyncSession, month_start: date) -> dict[str, MonthTotals]:
    """Customer id → the month's spend, requests and days at cap (customers with usage)."""
    first, following = month_bounds(month_start)
    inner = _customer_days_sql(by_customer=False).rsplit("ORDER BY", 1)[0]
    rows = await session.execute(
        text(
            "SELECT d.customer_id, sum(d.spent_usd_micros)::bigint AS spent, "
            "sum(d.requests)::bigint AS requests, "
            "count(*) FILTER (WHERE d.daily_limited_requests > 0 "
            f"OR d.spent_usd_micros >= d.daily_cap_usd_cents * {MICROS_PER_CENT}) AS days_at_cap "
            f"FROM ({inner}) d GROUP BY d.customer_id"
        ),
        {"first_day": first, "end_day": following},
    )
    return {
        row.customer_id: MonthTotals(int(row.spent), int(row.requests), int(row.days_at_cap))
        for row in rows
    }


async def daily_caps_of(
    session: AsyncSession, customer_id: str, *, first_day: date, end_day: date
) -> dict[date, int]:
    """The days in ``[first_day, end_day)`` whose cap differed from the customer's own
    (rollover or burst), with that cap; other days use ``customers.daily_cap_usd_cents``."""
    rows = await session.execute(
        text(
            "SELECT day, daily_cap_usd_cents FROM daily_caps "
            "WHERE customer_id = :id AND day >= :first AND day < :end"
        ),
        {"id": customer_id, "first": first_day, "end": end_day},
    )
    return {row.day: int(row.daily_cap_usd_cents) for row in rows}
