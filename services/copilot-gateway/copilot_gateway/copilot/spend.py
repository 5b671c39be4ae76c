"""Today's spend per customer, as well as this replica can know it without a call per request.

Saturn's ledger is the truth; the gateway never blocks on it. Sources, best first:

1. an exact figure Saturn sends (saturn-local): the spend in a cap denial's details, or the
   receipt's ``spent_today_usd_micros`` (``X-Saturn-Spent-Today-Usd-Micros``) on a success;
2. tenant-api's usage for today (which includes Saturn's figure), fetched in the background
   when a customer is first seen on a day and again every ``refresh_seconds``;
3. the costs of the calls this replica made since that figure was taken.

So the figure is exact on a single replica once seeded, and otherwise trails the other
replicas' spend by at most ``refresh_seconds``. It only ever feeds the ``budget`` block of a
response; no decision depends on it (the caps are enforced by Saturn).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date

logger = logging.getLogger("copilot_gateway.spend")

SpendFetcher = Callable[[str], Awaitable[int]]


@dataclass(slots=True)
class _Day:
    day: date
    own_usd_micros: int = 0  # costs of this replica's calls today
    base_usd_micros: int | None = None  # an outside figure ...
    own_at_base: int = 0  # ... and own_usd_micros when it was taken
    refreshed_at: float = -1e9
    is_refreshing: bool = False

    @property
    def spent_usd_micros(self) -> int:
        if self.base_usd_micros is None:
            return self.own_usd_micros
        return self.base_usd_micros + self.own_usd_micros - self.own_at_base


class SpendTracker:
    def __init__(self, *, fetch: SpendFetcher | None, refresh_seconds: float = 30.0) -> None:
        self._fetch = fetch
        self._refresh = refresh_seconds
        self._days: dict[str, _Day] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def _entry(self, customer_id: str, day: date) -> _Day:
        entry = self._days.get(customer_id)
        if entry is None or entry.day != day:
            entry = self._days[customer_id] = _Day(day)
        return entry

    def add_cost(self, customer_id: str, day: date, cost_usd_micros: int) -> int:
        """Count one call's cost; returns the customer's spend today."""
        entry = self._entry(customer_id, day)
        entry.own_usd_micros += cost_usd_micros
        self._maybe_refresh(customer_id, entry)
        return entry.spent_usd_micros

    def set_exact(self, customer_id: str, day: date, spent_usd_micros: int) -> None:
        entry = self._entry(customer_id, day)
        entry.base_usd_micros = spent_usd_micros
        entry.own_at_base = entry.own_usd_micros
        entry.refreshed_at = time.monotonic()

    def known(self, customer_id: str, day: date) -> int | None:
        """Today's figure if this replica has one at all."""
        entry = self._days.get(customer_id)
        if entry is None or entry.day != day:
            return None
        return entry.spent_usd_micros

    def _maybe_refresh(self, customer_id: str, entry: _Day) -> None:
        if self._fetch is None or entry.is_refreshing:
            return
        if time.monotonic() - entry.refreshed_at < self._refresh:
            return
        entry.is_refreshing = True
        task = asyncio.create_task(self._refresh_from_outside(customer_id, entry))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refresh_from_outside(self, customer_id: str, entry: _Day) -> None:
        assert self._fetch is not None
        own_at_start = entry.own_usd_micros
        try:
            spent = await self._fetch(customer_id)
        except Exception as exc:  # a missing figure only makes the estimate coarser
            logger.debug("spend refresh for %s failed: %s", customer_id, type(exc).__name__)
        else:
            if self._days.get(customer_id) is entry:
                entry.base_usd_micros = spent
                entry.own_at_base = own_at_start
        finally:
            entry.is_refreshing = False
            entry.refreshed_at = time.monotonic()

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
