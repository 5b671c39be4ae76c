"""Burst allowance: a customer at their daily cap with burst days left this month gets the
rest of the day at ``burst_multiplier_percent`` of the plan's cap, once per day.

Saturn's cap is raised first (no transaction open); then, under the customer's row lock, the
day is recorded (``burst_days`` primary key = one per customer-day), today's effective cap
is stored and ``customer.burst_used`` is emitted in the same transaction. A second request
the same day (or a retry after a lost answer) finds the day and grants without using another.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from copilot_kit.saturn.errors import SaturnError
from tenant_api.context import AppContext
from tenant_api.customers.service import CustomerNotFound
from tenant_api.errors import saturn_failure
from tenant_api.monitoring.schemas import BurstDecision, BurstResult
from tenant_api.monitoring.usage_source import db_today, effective_daily_caps, month_bounds
from tenant_api.webhooks.outbox import emit, new_event_id
from tenant_api.webhooks.schemas import WebhookEventType

logger = logging.getLogger("tenant_api.monitoring.burst")


@dataclass(frozen=True)
class _State:
    customer_id: str
    external_id: str
    status: str
    agent_id: str | None
    plan: str
    base_cap_usd_cents: int
    per_call_cap_usd_cents: int
    plan_cap_usd_cents: int
    multiplier_percent: int
    days_per_month: int
    today: date
    used_this_month: int
    today_burst_cap_usd_cents: int | None
    current_cap_usd_cents: int

    @property
    def burst_cap_usd_cents(self) -> int:
        # Never lower than what today already allows (e.g. a rollover above the burst).
        raised = self.plan_cap_usd_cents * self.multiplier_percent // 100
        return max(raised, self.current_cap_usd_cents)

    def result(self, decision: BurstDecision, cap: int, used: int) -> BurstResult:
        return BurstResult(
            granted=decision in (BurstDecision.GRANTED, BurstDecision.ALREADY_GRANTED_TODAY),
            reason=decision,
            customer_id=self.customer_id,
            date=self.today,
            daily_cap_usd_cents=cap,
            burst_days_used=used,
            burst_days_per_month=self.days_per_month,
        )


async def _load(
    session: AsyncSession, customer_id: str, *, lock: bool, today: date | None
) -> _State:
    row = (
        await session.execute(
            text(
                "SELECT c.id, c.external_id, c.status, c.agent_id, c.plan_tier, "
                "c.daily_cap_usd_cents, c.per_call_cap_usd_cents, "
                "p.daily_cap_usd_cents AS plan_cap, p.burst_multiplier_percent, "
                "p.burst_days_per_month "
                "FROM customers c JOIN plans p ON p.tier = c.plan_tier WHERE c.id = :id"
                + (" FOR UPDATE OF c" if lock else "")
            ),
            {"id": customer_id},
        )
    ).one_or_none()
    if row is None:
        raise CustomerNotFound(customer_id)
    today = today or await db_today(session)
    first, following = month_bounds(today)
    burst = (
        await session.execute(
            text(
                "SELECT count(*) AS used, "
                "max(daily_cap_usd_cents) FILTER (WHERE day = :today) AS today_cap "
                "FROM burst_days WHERE customer_id = :id AND day >= :first AND day < :following"
            ),
            {"id": customer_id, "today": today, "first": first, "following": following},
        )
    ).one()
    caps = await effective_daily_caps(session, [customer_id], today)
    return _State(
        customer_id=row.id,
        external_id=row.external_id,
        status=row.status,
        agent_id=row.agent_id,
        plan=row.plan_tier,
        base_cap_usd_cents=row.daily_cap_usd_cents,
        per_call_cap_usd_cents=row.per_call_cap_usd_cents,
        plan_cap_usd_cents=row.plan_cap,
        multiplier_percent=row.burst_multiplier_percent,
        days_per_month=row.burst_days_per_month,
        today=today,
        used_this_month=int(burst.used),
        today_burst_cap_usd_cents=burst.today_cap,
        current_cap_usd_cents=caps[customer_id],
    )


def _refusal(state: _State) -> BurstResult | None:
    if state.today_burst_cap_usd_cents is not None:
        return state.result(
            BurstDecision.ALREADY_GRANTED_TODAY,
            state.current_cap_usd_cents,
            state.used_this_month,
        )
    decision = None
    if state.status != "active" or state.agent_id is None:
        decision = BurstDecision.CUSTOMER_INACTIVE
    elif state.days_per_month <= 0:
        decision = BurstDecision.NO_BURST_ALLOWANCE
    elif state.used_this_month >= state.days_per_month:
        decision = BurstDecision.BURST_DAYS_USED_UP
    if decision is None:
        return None
    return state.result(decision, state.current_cap_usd_cents, state.used_this_month)


class BurstService:
    def __init__(self, context: AppContext) -> None:
        self._context = context

    async def request_burst(self, customer_id: str, *, today: date | None = None) -> BurstResult:
        """Grant today's burst if the customer has one left (idempotent within a day).
        ``today`` defaults to the database clock's UTC date (tests inject days)."""
        async with self._context.sessionmaker() as session, session.begin():
            state = await _load(session, customer_id, lock=False, today=today)
        refused = _refusal(state)
        if refused is not None:
            return refused
        assert state.agent_id is not None
        cap = state.burst_cap_usd_cents
        try:
            await self._context.saturn.set_caps(
                state.agent_id,
                max_per_call_usd_cents=state.per_call_cap_usd_cents,
                max_per_day_usd_cents=cap,
            )
        except SaturnError as exc:
            raise saturn_failure(exc, "burst") from exc
        async with self._context.sessionmaker() as session, session.begin():
            state = await _load(session, customer_id, lock=True, today=today)
            refused = _refusal(state)
            if refused is not None:
                # Raced: another request granted today's burst, or the customer changed.
                if not refused.granted:
                    logger.warning("burst for %s refused after raising its cap", customer_id)
                return refused
            event_id = new_event_id()
            used = state.used_this_month + 1
            await session.execute(
                text(
                    "INSERT INTO burst_days (customer_id, day, daily_cap_usd_cents, event_id) "
                    "VALUES (:id, :day, :cap, :event_id)"
                ),
                {"id": customer_id, "day": state.today, "cap": cap, "event_id": event_id},
            )
            await session.execute(
                text(
                    "INSERT INTO daily_caps (customer_id, day, daily_cap_usd_cents, "
                    "base_cap_usd_cents, is_burst) VALUES (:id, :day, :cap, :base, true) "
                    "ON CONFLICT (customer_id, day) DO UPDATE SET "
                    "daily_cap_usd_cents = excluded.daily_cap_usd_cents, "
                    "base_cap_usd_cents = excluded.base_cap_usd_cents, "
                    "is_burst = true, updated_at = now()"
                ),
                {
                    "id": customer_id,
                    "day": state.today,
                    "cap": cap,
                    "base": state.base_cap_usd_cents,
                },
            )
            await emit(
                session,
                WebhookEventType.CUSTOMER_BURST_USED,
                {
                    "customer_id": customer_id,
                    "external_id": state.external_id,
                    "plan": state.plan,
                    "date": state.today.isoformat(),
                    "daily_cap_usd_cents": cap,
                    "plan_daily_cap_usd_cents": state.plan_cap_usd_cents,
                    "burst_days_used": used,
                    "burst_days_per_month": state.days_per_month,
                },
                event_id=event_id,
            )
        logger.info("burst granted to %s for %s (cap %d cents)", customer_id, state.today, cap)
        return state.result(BurstDecision.GRANTED, cap, used)
