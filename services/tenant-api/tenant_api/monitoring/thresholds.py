"""``usage.threshold_reached``: edge-triggered once per customer, UTC day and threshold.

The crossing row is inserted with ``ON CONFLICT DO NOTHING RETURNING``: whichever transaction
inserts it first emits the event (in the same transaction); every other request, on any
replica, finds the row and emits nothing. Rows are inserted in a fixed order, so concurrent
callers never deadlock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from copilot_kit.money import MICROS_PER_CENT
from tenant_api.monitoring.usage_source import (
    customer_days,
    db_today,
    effective_daily_caps,
)
from tenant_api.webhooks.outbox import emit, new_event_id
from tenant_api.webhooks.schemas import WebhookEventType

THRESHOLDS_PERCENT = (80, 100)


def reached_thresholds(
    spent_usd_micros: int, daily_cap_usd_cents: int, *, at_cap: bool
) -> list[int]:
    """80 once spend reaches 80 % of the cap; 100 once the customer is at cap (spend reached
    the cap, or a request was refused for it). Being at cap implies 80 as well."""
    cap_micros = daily_cap_usd_cents * MICROS_PER_CENT
    reached = [
        percent for percent in THRESHOLDS_PERCENT if spent_usd_micros * 100 >= cap_micros * percent
    ]
    if at_cap:
        reached = list(THRESHOLDS_PERCENT)
    return reached


async def on_usage_recorded(
    session: AsyncSession, customer_ids: Sequence[str], *, day: date | None = None
) -> list[str]:
    """Emit the threshold events newly reached by these customers today (or on ``day``);
    returns their event ids. Call it in the transaction that recorded the usage."""
    ids = sorted(set(customer_ids))
    if not ids:
        return []
    day = day or await db_today(session)
    caps = await effective_daily_caps(session, ids, day)
    days = {
        item.customer_id: item
        for item in await customer_days(
            session, first_day=day, end_day=day + timedelta(days=1), customer_ids=ids
        )
    }
    emitted: list[str] = []
    for customer_id in ids:
        usage = days.get(customer_id)
        cap = caps.get(customer_id)
        if usage is None or cap is None:
            continue
        for percent in reached_thresholds(usage.spent_usd_micros, cap, at_cap=usage.at_cap):
            event_id = new_event_id()
            inserted = await session.execute(
                text(
                    "INSERT INTO threshold_crossings (customer_id, day, threshold_percent, "
                    "spent_usd_micros, daily_cap_usd_cents, event_id) "
                    "VALUES (:customer_id, :day, :percent, :spent, :cap, :event_id) "
                    "ON CONFLICT DO NOTHING RETURNING event_id"
                ),
                {
                    "customer_id": customer_id,
                    "day": day,
                    "percent": percent,
                    "spent": usage.spent_usd_micros,
                    "cap": cap,
                    "event_id": event_id,
                },
            )
            if inserted.one_or_none() is None:
                continue
            emitted.append(
                await emit(
                    session,
                    WebhookEventType.USAGE_THRESHOLD_REACHED,
                    {
                        "customer_id": customer_id,
                        "threshold_percent": percent,
                        "date": day.isoformat(),
                        "spent_usd_micros": usage.spent_usd_micros,
                        "daily_cap_usd_cents": cap,
                    },
                    event_id=event_id,
                )
            )
    return emitted
