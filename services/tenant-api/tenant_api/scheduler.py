"""Background work inside tenant-api, safe with several replicas.

- Outbox delivery runs on every replica: claims are ``FOR UPDATE SKIP LOCKED`` with a lease,
  so replicas share the load and never deliver one attempt twice.
- The periodic jobs (rollover, the threshold sweep, the heavy-user scan) run on one replica
  at a time: each jobs tick first takes a session advisory lock on a dedicated connection
  (autocommit, so no transaction stays open while Saturn is called) and skips if another
  replica holds it.

``start(context)`` from the app's lifespan; ``await scheduler.stop()`` on shutdown. Tests
call ``delivery_tick()`` / ``jobs_tick(day=...)`` directly instead of waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date

import httpx
from sqlalchemy import text

from tenant_api.context import AppContext
from tenant_api.monitoring.heavy_users import scan_heavy_users, sweep_thresholds
from tenant_api.monitoring.rollover import RolloverOutcome, apply_rollover
from tenant_api.monitoring.settings import MonitoringSettings
from tenant_api.webhooks.delivery import DeliveryWorker

logger = logging.getLogger("tenant_api.scheduler")

# pg advisory lock key of the jobs runner (any constant bigint, unique in this database).
JOBS_LOCK_KEY = 0x5AA5_C0F1_0000_0001


@dataclass
class JobsOutcome:
    ran: bool
    rollover: RolloverOutcome | None = None
    threshold_events: list[str] = field(default_factory=list)
    heavy_user_events: list[str] = field(default_factory=list)


class Scheduler:
    def __init__(
        self,
        context: AppContext,
        settings: MonitoringSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._context = context
        self._settings = settings or MonitoringSettings()
        self.delivery = DeliveryWorker(
            sessionmaker=context.sessionmaker,
            keyring=context.keyring,
            settings=self._settings,
            transport=transport,
        )
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def settings(self) -> MonitoringSettings:
        return self._settings

    def __repr__(self) -> str:
        return f"Scheduler(running={bool(self._tasks)})"

    async def delivery_tick(self) -> int:
        return await self.delivery.run_once()

    async def jobs_tick(self, *, day: date | None = None) -> JobsOutcome:
        """Run the periodic jobs if no other replica is running them right now."""
        async with self._context.engine.connect() as raw:
            conn = await raw.execution_options(isolation_level="AUTOCOMMIT")
            locked = await conn.scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": JOBS_LOCK_KEY}
            )
            if not locked:
                return JobsOutcome(ran=False)
            try:
                return await self._run_jobs(day)
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": JOBS_LOCK_KEY})

    async def _run_jobs(self, day: date | None) -> JobsOutcome:
        outcome = JobsOutcome(ran=True)
        # Each job on its own: one failing must not starve the others.
        try:
            outcome.rollover = await apply_rollover(self._context, day=day)
        except Exception:
            logger.exception("rollover job failed")
        try:
            async with self._context.sessionmaker() as session, session.begin():
                outcome.threshold_events = await sweep_thresholds(session, today=day)
        except Exception:
            logger.exception("threshold sweep failed")
        try:
            async with self._context.sessionmaker() as session, session.begin():
                outcome.heavy_user_events = await scan_heavy_users(
                    session,
                    min_days_at_cap=self._settings.heavy_user_min_days_at_cap,
                    today=day,
                )
        except Exception:
            logger.exception("heavy-user scan failed")
        return outcome

    def start(self) -> None:
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(
                self._every(self._settings.delivery_interval_seconds, self.delivery_tick),
                name="webhook-delivery",
            ),
            asyncio.create_task(
                self._every(self._settings.jobs_interval_seconds, self.jobs_tick),
                name="monitoring-jobs",
            ),
        ]

    async def _every(self, seconds: float, tick: Callable[[], Awaitable[object]]) -> None:
        while True:
            try:
                await tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("scheduled tick failed")
            await asyncio.sleep(seconds)

    async def stop(self) -> None:
        """Stop the loops, interrupt deliveries in flight and hand them back to the outbox."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.delivery.aclose()


def start(
    context: AppContext,
    settings: MonitoringSettings | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Scheduler:
    """Start the background loops (unless ``TENANT_API_SCHEDULER_ENABLED=false``)."""
    scheduler = Scheduler(context, settings, transport=transport)
    if scheduler.settings.scheduler_enabled:
        scheduler.start()
    return scheduler
