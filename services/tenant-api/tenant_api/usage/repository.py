from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, and_, cast, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tenant_api.models import Customer, UsageEvent, UsageOutcome


async def existing_customer_ids(session: AsyncSession, ids: set[str]) -> set[str]:
    if not ids:
        return set()
    rows = await session.scalars(select(Customer.id).where(Customer.id.in_(ids)))
    return set(rows.all())


async def insert_events(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> int:
    """Insert, skipping events already recorded; returns how many were new."""
    if not rows:
        return 0
    values = [{**row, "occurred_at": row["occurred_at"] or func.now()} for row in rows]
    statement = (
        insert(UsageEvent)
        .values(values)
        .on_conflict_do_nothing(index_elements=["customer_id", "id"])
        .returning(UsageEvent.id)
    )
    return len((await session.execute(statement)).all())


@dataclass(frozen=True)
class DayTotals:
    day: date
    spent_usd_micros: int
    requests: int
    limited_requests: int
    hit_daily_limit: bool


async def day_totals(
    session: AsyncSession, customer_id: str, start: datetime, end: datetime
) -> list[DayTotals]:
    """Per UTC day in ``[start, end)``, from the recorded events."""
    day = cast(func.timezone("UTC", UsageEvent.occurred_at), Date).label("day")
    limited = UsageEvent.outcome.in_([UsageOutcome.DAILY_LIMIT, UsageOutcome.PER_CALL_LIMIT])
    statement = (
        select(
            day,
            func.coalesce(func.sum(UsageEvent.cost_usd_micros), 0),
            func.count(),
            func.count().filter(limited),
            func.coalesce(func.bool_or(UsageEvent.outcome == UsageOutcome.DAILY_LIMIT), False),
        )
        .where(
            and_(
                UsageEvent.customer_id == customer_id,
                UsageEvent.occurred_at >= start,
                UsageEvent.occurred_at < end,
            )
        )
        .group_by(day)
        .order_by(day)
    )
    return [
        DayTotals(row[0], int(row[1]), int(row[2]), int(row[3]), bool(row[4]))
        for row in (await session.execute(statement)).all()
    ]
