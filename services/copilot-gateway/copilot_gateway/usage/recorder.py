"""An in-memory queue of usage events and the background task that ships them.

Requests only append to a deque (no await, no I/O). The flusher sends batches every
``flush_interval`` or as soon as ``batch_size`` events wait, keeps a failed batch at the head
and retries it with capped exponential backoff (tenant-api deduplicates by event id, so a
batch that was stored but whose answer was lost is harmless to resend). At shutdown it drains
what is left within a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from copilot_gateway.clients.tenant_api import (
    TenantApiClient,
    TenantApiRequestError,
    TenantApiUnavailable,
    UsageEvent,
)

logger = logging.getLogger("copilot_gateway.usage")


class UsageRecorder:
    def __init__(
        self,
        *,
        tenant_api: TenantApiClient,
        batch_size: int = 200,
        flush_interval: float = 0.2,
        max_queue: int = 100_000,
        retry_max_seconds: float = 5.0,
        shutdown_timeout: float = 5.0,
    ) -> None:
        self._tenant_api = tenant_api
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_queue = max_queue
        self._retry_max = retry_max_seconds
        self._shutdown_timeout = shutdown_timeout
        self._queue: deque[UsageEvent] = deque()
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.sent = 0

    @property
    def pending(self) -> int:
        return len(self._queue)

    def record(self, event: UsageEvent) -> None:
        """Queue one event; never blocks the request."""
        if len(self._queue) >= self._max_queue:
            self._queue.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                logger.warning(
                    "usage queue full (%d events): dropped %d oldest events so far",
                    self._max_queue,
                    self.dropped,
                )
        self._queue.append(event)
        if len(self._queue) >= self._batch_size:
            self._wakeup.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="usage-recorder")

    async def stop(self) -> None:
        """Stop the loop, then send what is queued, giving up after the shutdown timeout."""
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=self._shutdown_timeout)
            except TimeoutError:
                logger.warning("usage recorder: %d events unsent at shutdown", len(self._queue))
            self._task = None
        elif self._queue:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drain(), timeout=self._shutdown_timeout)

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=self._flush_interval)
            self._wakeup.clear()
            await self._drain()
        await self._drain()

    async def _drain(self) -> None:
        """Send every queued event, retrying the head batch until it is accepted."""
        delay = 0.1
        while self._queue:
            batch = [self._queue[i] for i in range(min(self._batch_size, len(self._queue)))]
            try:
                result = await self._tenant_api.record_usage_events(batch)
            except TenantApiUnavailable as exc:
                logger.warning(
                    "usage recorder: tenant-api unavailable (%s); %d events queued, retry in %.1fs",
                    exc.message,
                    len(self._queue),
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max)
                continue
            except TenantApiRequestError as exc:
                # Retrying a refused batch cannot succeed; keep the queue moving.
                logger.error(
                    "usage recorder: tenant-api refused %d events (%s %s); dropped",
                    len(batch),
                    exc.status,
                    exc.code,
                )
            except Exception:
                logger.exception("usage recorder: unexpected failure; retry in %.1fs", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max)
                continue
            else:
                self.sent += result.accepted
            self._pop(batch)
            delay = 0.1

    def _pop(self, batch: list[UsageEvent]) -> None:
        # By identity: if the queue overflowed meanwhile, the head is no longer this batch.
        for event in batch:
            if self._queue and self._queue[0] is event:
                self._queue.popleft()
