"""Days at cap per month, and ``customer.heavy_user`` once per customer per month."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tenant_api.monitoring.thresholds import on_usage_recorded
from tenant_api.monitoring.usage_source import customer_days, db_today, month_bounds
from tenant_api.reports.recommendation import recommendations
from tenant_api.webhooks.outbox import emit, new_event_id
from tenant_api.webhooks.schemas import WebhookEventType


async def days_at_cap(session: AsyncSession, month_start: date) -> Counter[str]:
    """Customer id → number of days at cap in the month."""
    first, following = month_bounds(month_start)
    counts: Counter[str] = Counter()
    for item in await customer_days(session, first_day=first, end_day=following):
        if item.at_cap:
            counts[item.customer_id] += 1
    return counts


async def scan_heavy_users(
    session: AsyncSession, *, min_days_at_cap: int, today: date | None = None
) -> list[str]:
    """Flag (and announce) customers whose days at cap this month reached the threshold;
    returns the new event ids. Safe to repeat and to run on several replicas at once."""
    today = today or await db_today(session)
    month = today.replace(day=1)
    counts = await days_at_cap(session, month)
    heavy = {cid: n for cid, n in counts.items() if n >= min_days_at_cap}
    if not heavy:
        return []
    rows = await session.execute(
        text(
            "SELECT c.id, c.external_id, c.plan_tier, p.daily_cap_usd_cents AS plan_cap "
            "FROM customers c JOIN plans p ON p.tier = c.plan_tier WHERE c.id = ANY(:ids) "
            "ORDER BY c.id"
        ),
        {"ids": list(heavy)},
    )
    customers = rows.all()
    advice = await recommendations(session, {row.id: row.plan_cap for row in customers})
    emitted = []
    for row in customers:
        event_id = new_event_id()
        inserted = await session.execute(
            text(
                "INSERT INTO heavy_user_flags (customer_id, month, days_at_cap, event_id) "
                "VALUES (:id, :month, :days, :event_id) ON CONFLICT DO NOTHING RETURNING event_id"
            ),
            {"id": row.id, "month": month, "days": heavy[row.id], "event_id": event_id},
        )
        if inserted.one_or_none() is None:
            continue
        emitted.append(
            await emit(
                session,
                WebhookEventType.CUSTOMER_HEAVY_USER,
                {
                    "customer_id": row.id,
                    "external_id": row.external_id,
                    "plan": row.plan_tier,
                    "month": month.strftime("%Y-%m"),
                    "days_at_cap": heavy[row.id],
                    "min_days_at_cap": min_days_at_cap,
                    "recommendation": advice[row.id],
                },
                event_id=event_id,
            )
        )
    return emitted


async def sweep_thresholds(session: AsyncSession, *, today: date | None = None) -> list[str]:
    """Re-check today's thresholds for every customer with usage today: catches a crossing
    that two concurrent recordings each missed (neither saw the other's uncommitted rows)."""
    today = today or await db_today(session)
    ids = sorted(
        {
            item.customer_id
            for item in await customer_days(
                session, first_day=today, end_day=today + timedelta(days=1)
            )
        }
    )
    return await on_usage_recorded(session, ids, day=today)
