"""The operator reports. Revenue is seats times the plan's monthly seat price; AI cost is the sum
of recorded event costs; the worst case is every day of the month spent to its cap."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from copilot_kit.errors import InvalidRequest
from copilot_kit.money import MICROS_PER_CENT
from tenant_api.monitoring.usage_source import day_start, db_today, month_bounds, month_totals
from tenant_api.reports.recommendation import recommendations
from tenant_api.reports.schemas import (
    BurstCustomer,
    BurstsReport,
    HeavyUser,
    HeavyUsersReport,
    MarginFigures,
    MarginReport,
    PlanMargin,
)


def parse_month(value: str) -> date:
    """``YYYY-MM`` (already validated by the route's pattern) → its first day."""
    year, month = (int(part) for part in value.split("-"))
    # The pattern admits year 0000, and 9999-12 has no following month to end the range at.
    if not 1 <= year <= 9998:
        raise InvalidRequest(
            f"The month '{value}' is out of range (0001-01 to 9998-12).",
            fields=[{"field": "month", "message": "year must be between 0001 and 9998"}],
        )
    return date(year, month, 1)


def month_label(month_start: date) -> str:
    return month_start.strftime("%Y-%m")


async def resolve_month(session: AsyncSession, value: str | None) -> date:
    """The requested month, or the current one by the database clock."""
    if value is not None:
        return parse_month(value)
    return (await db_today(session)).replace(day=1)


async def heavy_users(
    session: AsyncSession, month_start: date, *, min_days_at_cap: int
) -> HeavyUsersReport:
    totals = await month_totals(session, month_start)
    heavy = {cid: t for cid, t in totals.items() if t.days_at_cap >= min_days_at_cap}
    data: list[HeavyUser] = []
    if heavy:
        rows = (
            await session.execute(
                text(
                    "SELECT c.id, c.external_id, c.plan_tier, c.seats, p.seat_price_usd_cents, "
                    "p.daily_cap_usd_cents AS plan_cap "
                    "FROM customers c JOIN plans p ON p.tier = c.plan_tier WHERE c.id = ANY(:ids)"
                ),
                {"ids": list(heavy)},
            )
        ).all()
        advice = await recommendations(session, {row.id: row.plan_cap for row in rows})
        for row in rows:
            revenue = row.seats * row.seat_price_usd_cents
            spent = heavy[row.id].spent_usd_micros
            data.append(
                HeavyUser(
                    customer_id=row.id,
                    external_id=row.external_id,
                    plan=row.plan_tier,
                    days_at_cap=heavy[row.id].days_at_cap,
                    spent_usd_micros=spent,
                    revenue_usd_cents=revenue,
                    margin_usd_micros=revenue * MICROS_PER_CENT - spent,
                    recommendation=advice[row.id],
                )
            )
    data.sort(key=lambda h: (-h.days_at_cap, -h.spent_usd_micros, h.customer_id))
    return HeavyUsersReport(
        month=month_label(month_start), min_days_at_cap=min_days_at_cap, data=data
    )


# Customers that count for a month: active and signed up before it ended, or with usage in it.
_MARGIN_CUSTOMERS_SQL = """
SELECT c.id, c.plan_tier, c.seats, c.daily_cap_usd_cents, p.seat_price_usd_cents,
       coalesce((SELECT sum(dc.daily_cap_usd_cents - dc.base_cap_usd_cents)
                 FROM daily_caps dc
                 WHERE dc.customer_id = c.id AND dc.day >= :first AND dc.day < :following), 0)
           AS raised_usd_cents
FROM customers c JOIN plans p ON p.tier = c.plan_tier
WHERE (c.status = 'active' AND c.created_at < :following_start) OR c.id = ANY(:with_usage)
ORDER BY c.id
"""


async def margin(session: AsyncSession, month_start: date) -> MarginReport:
    first, following = month_bounds(month_start)
    days_in_month = (following - first).days
    totals = await month_totals(session, month_start)
    rows = (
        await session.execute(
            text(_MARGIN_CUSTOMERS_SQL),
            {
                "first": first,
                "following": following,
                "following_start": day_start(following),
                "with_usage": list(totals),
            },
        )
    ).all()
    by_plan: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for row in rows:
        figures = by_plan[row.plan_tier]
        figures[0] += 1
        figures[1] += row.seats
        figures[2] += row.seats * row.seat_price_usd_cents
        figures[3] += totals[row.id].spent_usd_micros if row.id in totals else 0
        worst_cents = days_in_month * row.daily_cap_usd_cents + int(row.raised_usd_cents)
        figures[4] += worst_cents * MICROS_PER_CENT

    def figures_of(values: list[int]) -> dict[str, int]:
        customers, seats, revenue, cost, worst = values
        return {
            "customers": customers,
            "seats": seats,
            "revenue_usd_cents": revenue,
            "ai_cost_usd_micros": cost,
            "worst_case_ai_cost_usd_micros": worst,
            "margin_usd_micros": revenue * MICROS_PER_CENT - cost,
            "worst_case_margin_usd_micros": revenue * MICROS_PER_CENT - worst,
        }

    total = [sum(values[i] for values in by_plan.values()) for i in range(5)]
    return MarginReport(
        month=month_label(month_start),
        days_in_month=days_in_month,
        total=MarginFigures(**figures_of(total)),
        plans=[PlanMargin(plan=tier, **figures_of(by_plan[tier])) for tier in sorted(by_plan)],
    )


async def bursts(session: AsyncSession, month_start: date) -> BurstsReport:
    first, following = month_bounds(month_start)
    rows = await session.execute(
        text(
            "SELECT b.customer_id, c.external_id, c.plan_tier, p.burst_days_per_month, "
            "array_agg(b.day ORDER BY b.day) AS days "
            "FROM burst_days b JOIN customers c ON c.id = b.customer_id "
            "JOIN plans p ON p.tier = c.plan_tier "
            "WHERE b.day >= :first AND b.day < :following "
            "GROUP BY b.customer_id, c.external_id, c.plan_tier, p.burst_days_per_month "
            "ORDER BY count(*) DESC, b.customer_id"
        ),
        {"first": first, "following": following},
    )
    return BurstsReport(
        month=month_label(month_start),
        data=[
            BurstCustomer(
                customer_id=row.customer_id,
                external_id=row.external_id,
                plan=row.plan_tier,
                burst_days_used=len(row.days),
                burst_days_per_month=row.burst_days_per_month,
                days=list(row.days),
            )
            for row in rows
        ],
    )
