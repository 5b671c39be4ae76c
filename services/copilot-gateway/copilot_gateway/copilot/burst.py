"""Burst allowance: when Saturn refuses a call for the daily cap, ask tenant-api once to raise
today's cap and say whether the refused call should be retried.

tenant-api decides (and raises the cap at Saturn before it answers); this class only keeps a
customer at their cap from costing a tenant-api call per request:

- an answer that cannot change today (no allowance, burst days used up, inactive customer) is
  remembered until the UTC day ends, or until the customer's plan changes;
- a grant is remembered with its cap: a later refusal at (or above) that cap is final, one
  under it raced the raise and is retried without asking again;
- concurrent refusals of one customer share one request;
- a failed or timed-out request is not repeated for ``failure_backoff_seconds``.

Nothing here can fail a request: every failure means "no burst", i.e. the normal 429.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from copilot_gateway.clients.tenant_api import (
    AgentCredentials,
    BurstDecision,
    TenantApiClient,
    TenantApiError,
)
from copilot_kit.money import MICROS_PER_CENT

logger = logging.getLogger("copilot_gateway.burst")

# Answers that hold for the rest of the day (a plan change is checked separately).
_FINAL_FOR_TODAY = frozenset(
    {
        BurstDecision.NO_BURST_ALLOWANCE,
        BurstDecision.BURST_DAYS_USED_UP,
        BurstDecision.CUSTOMER_INACTIVE,
    }
)
_PRUNE_AT = 10_000


def utc_today() -> date:
    return datetime.now(UTC).date()


@dataclass(frozen=True, slots=True)
class _Known:
    day: date
    plan: str
    raised_cap_usd_cents: int | None  # None: no burst today


class BurstAllowance:
    def __init__(
        self,
        *,
        tenant_api: TenantApiClient,
        timeout_seconds: float,
        failure_backoff_seconds: float = 5.0,
        today: Callable[[], date] = utc_today,
    ) -> None:
        self._tenant_api = tenant_api
        self._timeout = timeout_seconds
        self._backoff = failure_backoff_seconds
        self._today = today
        self._known: dict[str, _Known] = {}
        self._failed_at: dict[str, float] = {}
        self._inflight: dict[str, asyncio.Task[int | None]] = {}

    def raised_cap(self, credentials: AgentCredentials) -> int | None:
        """Today's burst cap in cents if this replica saw it granted, else None."""
        known = self._current(credentials)
        return None if known is None else known.raised_cap_usd_cents

    async def after_daily_limit(
        self, credentials: AgentCredentials, *, refused_at_cap_usd_micros: int | None
    ) -> int | None:
        """The raised cap (cents) if the refused call should be retried once, else None.

        ``refused_at_cap_usd_micros`` is the cap Saturn refused at, when it says (saturn-local).
        """
        if credentials.burst_days_per_month == 0:
            return None
        customer_id = credentials.customer_id
        known = self._current(credentials)
        if known is not None:
            raised = known.raised_cap_usd_cents
            if raised is None:
                return None
            if (
                refused_at_cap_usd_micros is not None
                and refused_at_cap_usd_micros < raised * MICROS_PER_CENT
            ):
                return raised
            # Refused at the raised cap itself, or Saturn gave no figures: the burst is spent.
            return None
        failed_at = self._failed_at.get(customer_id)
        if failed_at is not None and time.monotonic() - failed_at < self._backoff:
            return None
        task = self._inflight.get(customer_id)
        if task is None:
            task = asyncio.create_task(self._ask(credentials), name=customer_id)
            self._inflight[customer_id] = task
            task.add_done_callback(self._done)
        # Shielded: one waiter going away must not cancel the request the others wait for.
        return await asyncio.shield(task)

    def _current(self, credentials: AgentCredentials) -> _Known | None:
        known = self._known.get(credentials.customer_id)
        if known is None or known.day != self._today() or known.plan != credentials.plan:
            return None
        return known

    def _done(self, task: asyncio.Task[int | None]) -> None:
        self._inflight.pop(task.get_name(), None)
        if not task.cancelled():
            task.exception()  # retrieved, in case every waiter went away before the end

    async def _ask(self, credentials: AgentCredentials) -> int | None:
        customer_id = credentials.customer_id
        day = self._today()
        try:
            async with asyncio.timeout(self._timeout):
                grant = await self._tenant_api.request_burst(customer_id)
        except Exception as exc:  # whatever went wrong, the answer is "no burst": the 429
            reason = exc.message if isinstance(exc, TenantApiError) else repr(exc)
            logger.warning("burst request for %s failed: %s", customer_id, reason)
            if len(self._failed_at) >= _PRUNE_AT:
                self._failed_at.clear()  # only shortens some back-offs
            self._failed_at[customer_id] = time.monotonic()
            return None
        self._failed_at.pop(customer_id, None)
        if grant.granted:
            self._remember(customer_id, _Known(day, credentials.plan, grant.daily_cap_usd_cents))
            return grant.daily_cap_usd_cents
        if grant.reason in _FINAL_FOR_TODAY:
            self._remember(customer_id, _Known(day, credentials.plan, None))
        return None

    def _remember(self, customer_id: str, known: _Known) -> None:
        if len(self._known) >= _PRUNE_AT:
            today = self._today()
            for key in [k for k, v in self._known.items() if v.day != today]:
                del self._known[key]
        self._known[customer_id] = known

    async def aclose(self) -> None:
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
