"""Usage events from the gateway, and the Usage view (today, month, days).

Today's spend comes from Saturn when it answers (its ledger is authoritative): the per-day
usage extension where the server has one, else today's spend from the admin agent list.
When Saturn is unreachable the view falls back to the recorded events and says so in
``source``. A day is at cap if a call was refused by the daily limit or its spend reached it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from copilot_kit.errors import InvalidRequest
from copilot_kit.money import MICROS_PER_CENT
from copilot_kit.saturn.errors import SaturnError, SaturnUnsupported
from copilot_kit.saturn.models import UsageDay
from tenant_api.context import AppContext
from tenant_api.customers import repository as customers_repository
from tenant_api.customers.service import CustomerNotFound
from tenant_api.monitoring.thresholds import on_usage_recorded
from tenant_api.monitoring.usage_source import daily_caps_of
from tenant_api.usage import repository
from tenant_api.usage.repository import DayTotals
from tenant_api.usage.schemas import (
    UsageDayOut,
    UsageEventBatch,
    UsageEventsAccepted,
    UsageMonth,
    UsageRead,
    UsageSource,
    UsageToday,
)

logger = logging.getLogger("tenant_api.usage")


class UnknownCustomers(InvalidRequest):
    code = "unknown_customer"


@dataclass(frozen=True)
class _SaturnView:
    source: UsageSource
    today_spent_usd_micros: int | None
    days: dict[date, UsageDay]


class UsageService:
    def __init__(self, context: AppContext) -> None:
        self._context = context

    async def record(self, batch: UsageEventBatch) -> UsageEventsAccepted:
        """Store the batch; events already stored are counted as duplicates."""
        async with self._context.sessionmaker() as session, session.begin():
            wanted = {event.customer_id for event in batch.events}
            unknown = wanted - await repository.existing_customer_ids(session, wanted)
            if unknown:
                raise UnknownCustomers(
                    "Events name customers that do not exist; nothing was recorded.",
                    customer_ids=sorted(unknown),
                )
            accepted = await repository.insert_events(
                session, [event.model_dump() for event in batch.events]
            )
            # Threshold alerts are decided in the same transaction as the events they count.
            await on_usage_recorded(session, sorted(wanted))
        return UsageEventsAccepted(accepted=accepted, duplicates=len(batch.events) - accepted)

    async def usage(self, customer_id: str) -> UsageRead:
        # All reads first, in one short transaction; then Saturn with no connection held.
        async with self._context.sessionmaker() as session, session.begin():
            customer = await customers_repository.get(session, customer_id)
            if customer is None:
                raise CustomerNotFound(customer_id)
            now = await customers_repository.db_now(session)
            today = now.astimezone(UTC).date()
            month_start = today.replace(day=1)
            tomorrow = today + timedelta(days=1)
            totals = await repository.day_totals(session, customer_id, month_start, tomorrow)
            # Rollover and burst raise a day's cap; those days are measured against it.
            raised = await daily_caps_of(
                session, customer_id, first_day=month_start, end_day=tomorrow
            )
        saturn = await self._saturn_view(customer.agent_id, today)

        def cap_cents(day: date) -> int:
            return raised.get(day, customer.daily_cap_usd_cents)

        cap_micros = cap_cents(today) * MICROS_PER_CENT
        by_day = {t.day: t for t in totals}
        days = [
            _day(day, by_day, saturn, cap_cents(day) * MICROS_PER_CENT)
            for day in (
                month_start + timedelta(days=n) for n in range((today - month_start).days + 1)
            )
        ]
        today_row = days[-1]
        if saturn.today_spent_usd_micros is not None:
            today_row = today_row.model_copy(
                update={
                    "spent_usd_micros": saturn.today_spent_usd_micros,
                    "at_cap": today_row.at_cap or saturn.today_spent_usd_micros >= cap_micros,
                }
            )
            days[-1] = today_row
        return UsageRead(
            customer_id=customer.id,
            plan=customer.plan_tier,
            source=saturn.source,
            today=UsageToday(
                date=today,
                spent_usd_micros=today_row.spent_usd_micros,
                daily_cap_usd_cents=cap_cents(today),
                remaining_usd_micros=max(0, cap_micros - today_row.spent_usd_micros),
                resets_at=_midnight(tomorrow),
                at_cap=today_row.at_cap,
            ),
            month=UsageMonth(
                month=today.strftime("%Y-%m"),
                spent_usd_micros=sum(d.spent_usd_micros for d in days),
                requests=sum(d.requests for d in days),
                limited_requests=sum(d.limited_requests for d in days),
                days_at_cap=sum(1 for d in days if d.at_cap),
            ),
            days=days,
        )

    async def _saturn_view(self, agent_id: str | None, today: date) -> _SaturnView:
        if agent_id is None:
            return _SaturnView(UsageSource.EVENTS, None, {})
        saturn = self._context.saturn
        try:
            try:
                usage = await saturn.get_usage(agent_id, days=31)
            except SaturnUnsupported:
                spend = {row.id: row for row in await saturn.list_agent_spend()}
                row = spend.get(agent_id)
                today_micros = row.today_spend_usd_cents * MICROS_PER_CENT if row else 0
                return _SaturnView(UsageSource.SATURN_TODAY, today_micros, {})
        except SaturnError as exc:
            logger.warning(
                "usage of agent %s from events only: saturn %s", agent_id, type(exc).__name__
            )
            return _SaturnView(UsageSource.EVENTS, None, {})
        days = {d.date: d for d in usage.days}
        today_row = days.get(today)
        return _SaturnView(UsageSource.SATURN, today_row.spent_usd_micros if today_row else 0, days)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _day(
    day: date, by_day: dict[date, DayTotals], saturn: _SaturnView, cap_micros: int
) -> UsageDayOut:
    events = by_day.get(day)
    remote = saturn.days.get(day)
    spent = events.spent_usd_micros if events else 0
    requests = events.requests if events else 0
    limited = events.limited_requests if events else 0
    hit_limit = events.hit_daily_limit if events else False
    if remote is not None:
        # Saturn's ledger is authoritative for money; counts take whichever saw more.
        spent = remote.spent_usd_micros
        requests = max(requests, remote.calls)
        limited = max(limited, remote.denied_calls)
        hit_limit = hit_limit or remote.at_cap
    return UsageDayOut(
        date=day,
        spent_usd_micros=spent,
        requests=requests,
        limited_requests=limited,
        at_cap=hit_limit or spent >= cap_micros,
    )
