"""The outbox worker: claims due deliveries in short transactions, POSTs them with no
transaction or lock held, and settles each attempt in another short transaction.

Safety with several workers (replicas) on one database: a claim sets a lease (longer than an
attempt can take) and bumps ``attempts`` under ``FOR UPDATE SKIP LOCKED``; only the attempt
holding that number may settle the row. A crash mid-attempt leaves the row to be retried
when its lease ends, with the same event id and body (at-least-once; receivers dedupe by
``X-Copilot-Event-Id``). Each endpoint has at most a few attempts in flight per worker, and
endpoints with attempts in flight are skipped when claiming, so a receiver that hangs or
fails only delays its own deliveries.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from copilot_kit.crypto import DecryptionError, Keyring
from copilot_kit.http import make_http_client
from tenant_api.monitoring.settings import MonitoringSettings
from tenant_api.webhooks import repository
from tenant_api.webhooks.repository import ClaimedDelivery
from tenant_api.webhooks.service import open_secret
from tenant_api.webhooks.signing import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    signature_header,
)

logger = logging.getLogger("tenant_api.webhooks.delivery")

USER_AGENT = "saas-copilot-webhooks/1"


class DeliveryWorker:
    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        keyring: Keyring,
        settings: MonitoringSettings,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._keyring = keyring
        self._settings = settings
        timeout = settings.webhook_timeout_seconds
        self._http = make_http_client(
            base_url="",
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            max_connections=200,
            transport=transport,
        )
        self._in_flight: dict[int, tuple[int, asyncio.Task[None]]] = {}
        self._busy: Counter[str] = Counter()
        self._closed = False

    def __repr__(self) -> str:
        return f"DeliveryWorker(in_flight={len(self._in_flight)})"

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def run_once(self) -> int:
        """Claim what is due and start delivering it; returns how many were claimed."""
        if self._closed:
            return 0
        free = self._settings.webhook_batch_size - len(self._in_flight)
        if free <= 0:
            return 0
        async with self._sessionmaker() as session, session.begin():
            claimed = await repository.claim_deliveries(
                session,
                limit=free,
                per_endpoint=self._settings.webhook_max_in_flight_per_endpoint,
                busy_endpoints=[endpoint for endpoint, n in self._busy.items() if n > 0],
                lease_seconds=self._settings.webhook_lease_seconds,
            )
        for delivery in claimed:
            self._busy[delivery.endpoint_id] += 1
            task = asyncio.create_task(self._deliver(delivery), name=f"webhook-{delivery.id}")
            self._in_flight[delivery.id] = (delivery.attempt, task)
            task.add_done_callback(functools.partial(self._done, delivery))
        return len(claimed)

    async def wait_idle(self) -> None:
        """Wait until every attempt started so far has settled."""
        while self._in_flight:
            await asyncio.gather(
                *(task for _, task in list(self._in_flight.values())), return_exceptions=True
            )

    async def aclose(self) -> None:
        """Stop: interrupt attempts in flight and hand their rows back for another worker."""
        self._closed = True
        interrupted = [
            (delivery_id, attempt) for delivery_id, (attempt, _) in self._in_flight.items()
        ]
        tasks = [task for _, task in self._in_flight.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if interrupted:
            try:
                async with self._sessionmaker() as session, session.begin():
                    await repository.release_claims(session, interrupted)
            except Exception:
                logger.warning(
                    "could not release %d webhook claims; their leases will expire",
                    len(interrupted),
                )
        await self._http.aclose()

    def _done(self, delivery: ClaimedDelivery, _task: asyncio.Task[None]) -> None:
        self._in_flight.pop(delivery.id, None)
        self._busy[delivery.endpoint_id] -= 1
        if self._busy[delivery.endpoint_id] <= 0:
            del self._busy[delivery.endpoint_id]

    async def _deliver(self, delivery: ClaimedDelivery) -> None:
        status_code, error = await self._post(delivery)
        try:
            async with self._sessionmaker() as session, session.begin():
                if error is None and status_code is not None:
                    await repository.mark_delivered(
                        session, delivery.id, delivery.attempt, status_code
                    )
                    return
                last = delivery.attempt >= self._settings.webhook_max_attempts
                retry_in = None if last else self._settings.backoff_seconds(delivery.attempt)
                await repository.mark_failed_attempt(
                    session,
                    delivery.id,
                    delivery.attempt,
                    status_code=status_code,
                    error=error or "failed",
                    retry_in_seconds=retry_in,
                )
            if last:
                logger.error(
                    "webhook %s to endpoint %s abandoned after %d attempts: %s",
                    delivery.event_id,
                    delivery.endpoint_id,
                    delivery.attempt,
                    error,
                )
        except Exception:
            # The lease expires and another attempt follows; nothing is lost.
            logger.exception("could not record the webhook attempt %s", delivery.id)

    async def _post(self, delivery: ClaimedDelivery) -> tuple[int | None, str | None]:
        """One attempt: ``(status, None)`` on 2xx, else ``(status or None, reason)``."""
        try:
            secret = open_secret(self._keyring, delivery.endpoint_id, delivery.secret_ciphertext)
        except DecryptionError:
            return None, "the endpoint secret does not decrypt with the configured keys"
        body = delivery.body.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_ID_HEADER: delivery.event_id,
            EVENT_TYPE_HEADER: delivery.event_type,
            SIGNATURE_HEADER: signature_header(secret, body, int(time.time())),
        }
        try:
            # The outer deadline also bounds receivers that trickle bytes forever.
            async with asyncio.timeout(self._settings.webhook_timeout_seconds + 1):
                response = await self._http.post(delivery.url, content=body, headers=headers)
        except (httpx.HTTPError, TimeoutError) as exc:
            return None, f"{type(exc).__name__}: could not deliver"
        if 200 <= response.status_code < 300:
            return response.status_code, None
        return response.status_code, f"receiver answered {response.status_code}"
