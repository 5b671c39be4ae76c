"""Rollover: at each UTC day start, today's cap at Saturn = the customer's plan cap +
min(yesterday's unused budget, the plan's rollover max).

Run by the scheduler (one replica at a time) on every jobs tick; a customer-day is done once
its ``daily_caps`` row exists, so repeating is harmless. The same pass puts back the plain
cap of customers whose cap was raised yesterday (rollover or burst) and who get none today.
Saturn is called with no transaction open; a failure leaves no row, so the next tick retries.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from copilot_kit.money import MICROS_PER_CENT
from copilot_kit.saturn.errors import SaturnError
from tenant_api.context import AppContext
from tenant_api.monitoring.usage_source import day_start, db_today, spent_on_day

logger = logging.getLogger("tenant_api.monitoring.rollover")

_SATURN_CONCURRENCY = 8


@dataclass(frozen=True)
class DayCap:
    customer_id: str
    agent_id: str
    per_call_cap_usd_cents: int
    base_cap_usd_cents: int
    rollover_usd_cents: int

    @property
    def daily_cap_usd_cents(self) -> int:
        return self.base_cap_usd_cents + self.rollover_usd_cents


@dataclass
class RolloverOutcome:
    day: date
    applied: list[DayCap] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def rollover_cents(
    *, yesterday_cap_usd_cents: int, spent_usd_micros: int, max_usd_cents: int
) -> int:
    """Whole cents left unused yesterday, capped at the plan's rollover maximum."""
    unused_micros = max(0, yesterday_cap_usd_cents * MICROS_PER_CENT - spent_usd_micros)
    return min(unused_micros // MICROS_PER_CENT, max_usd_cents)


_CANDIDATES_SQL = """
SELECT c.id, c.agent_id, c.daily_cap_usd_cents AS base, c.per_call_cap_usd_cents AS per_call,
       c.created_at < :yesterday_start AS existed_all_yesterday,
       p.rollover_max_usd_cents AS rollover_max,
       y.base_cap_usd_cents + y.rollover_usd_cents AS yesterday_cap,
       coalesce(y.daily_cap_usd_cents <> c.daily_cap_usd_cents, false) AS yesterday_raised
FROM customers c
JOIN plans p ON p.tier = c.plan_tier
LEFT JOIN daily_caps y ON y.customer_id = c.id AND y.day = :yesterday
LEFT JOIN daily_caps t ON t.customer_id = c.id AND t.day = :day
WHERE c.status = 'active' AND c.agent_id IS NOT NULL AND t.customer_id IS NULL
  AND (p.rollover_max_usd_cents > 0 OR y.customer_id IS NOT NULL)
ORDER BY c.id
"""


async def plan_day_caps(session: AsyncSession, day: date) -> list[DayCap]:
    """Today's cap of every customer that needs one set (no row for ``day`` yet)."""
    yesterday = day - timedelta(days=1)
    rows = (
        await session.execute(
            text(_CANDIDATES_SQL),
            {"day": day, "yesterday": yesterday, "yesterday_start": day_start(yesterday)},
        )
    ).all()
    spent = await spent_on_day(session, [row.id for row in rows], yesterday)
    caps = []
    for row in rows:
        rollover = 0
        # A customer who did not exist all of yesterday has no unused budget to carry.
        if row.rollover_max > 0 and row.existed_all_yesterday:
            rollover = rollover_cents(
                yesterday_cap_usd_cents=row.yesterday_cap or row.base,
                spent_usd_micros=spent[row.id],
                max_usd_cents=row.rollover_max,
            )
        if rollover == 0 and not row.yesterday_raised:
            continue  # Saturn already holds the plain cap
        caps.append(DayCap(row.id, row.agent_id, row.per_call, row.base, rollover))
    return caps


async def apply_rollover(context: AppContext, *, day: date | None = None) -> RolloverOutcome:
    async with context.sessionmaker() as session, session.begin():
        day = day or await db_today(session)
        planned = await plan_day_caps(session, day)
    outcome = RolloverOutcome(day=day)
    if not planned:
        return outcome
    semaphore = asyncio.Semaphore(_SATURN_CONCURRENCY)

    async def push(cap: DayCap, daily_usd_cents: int) -> bool:
        async with semaphore:
            try:
                await context.saturn.set_caps(
                    cap.agent_id,
                    max_per_call_usd_cents=cap.per_call_cap_usd_cents,
                    max_per_day_usd_cents=daily_usd_cents,
                )
            except SaturnError as exc:
                logger.warning(
                    "rollover of %s for %s failed at Saturn (%s); retried next tick",
                    cap.customer_id,
                    day,
                    type(exc).__name__,
                )
                return False
        return True

    pushed = await asyncio.gather(*(push(cap, cap.daily_cap_usd_cents) for cap in planned))
    superseded: list[tuple[DayCap, int]] = []
    async with context.sessionmaker() as session, session.begin():
        for cap, ok in zip(planned, pushed, strict=True):
            if not ok:
                outcome.failed.append(cap.customer_id)
                continue
            inserted = await session.execute(
                text(
                    "INSERT INTO daily_caps (customer_id, day, daily_cap_usd_cents, "
                    "base_cap_usd_cents, rollover_usd_cents) "
                    "VALUES (:id, :day, :cap, :base, :rollover) "
                    "ON CONFLICT DO NOTHING RETURNING customer_id"
                ),
                {
                    "id": cap.customer_id,
                    "day": day,
                    "cap": cap.daily_cap_usd_cents,
                    "base": cap.base_cap_usd_cents,
                    "rollover": cap.rollover_usd_cents,
                },
            )
            if inserted.one_or_none() is not None:
                outcome.applied.append(cap)
                continue
            # A burst recorded its own cap for today meanwhile: that one stands at Saturn.
            current = (
                await session.execute(
                    text(
                        "SELECT daily_cap_usd_cents FROM daily_caps "
                        "WHERE customer_id = :id AND day = :day"
                    ),
                    {"id": cap.customer_id, "day": day},
                )
            ).scalar_one()
            superseded.append((cap, int(current)))
    for cap, current in superseded:
        await push(cap, current)
    return outcome
