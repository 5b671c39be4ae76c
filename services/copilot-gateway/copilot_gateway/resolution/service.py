"""Resolve a customer to their agent through tenant-api, with a short cache and single-flight.

Only active customers with a key and churned customers are cached (the latter so a churned
customer's burst costs tenant-api one lookup); failures are never cached, so a tenant-api
outage ends for everybody as soon as tenant-api is back.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from copilot_gateway.clients.tenant_api import (
    AgentCredentials,
    TenantApiClient,
    TenantApiNotFound,
    TenantApiRequestError,
    TenantApiUnavailable,
)
from copilot_kit.errors import AppError, Unauthorized


class CustomerInactive(AppError):
    status_code = 403
    type = "permission_error"
    code = "customer_inactive"
    message = "This customer's AI features are not active."


class AiUnavailable(AppError):
    status_code = 503
    type = "service_unavailable"
    code = "ai_unavailable"
    message = "The AI service is temporarily unavailable. Nothing was charged; try again shortly."


class UnknownCustomer(Unauthorized):
    message = "The access token names a customer that does not exist."


_PRUNE_AT = 10_000


@dataclass(slots=True)
class _Entry:
    credentials: AgentCredentials
    expires_at: float


class AgentResolver:
    def __init__(self, *, tenant_api: TenantApiClient, ttl_seconds: float) -> None:
        self._tenant_api = tenant_api
        self._ttl = ttl_seconds
        self._cache: dict[str, _Entry] = {}
        self._inflight: dict[str, asyncio.Task[AgentCredentials]] = {}

    async def resolve(self, customer_id: str) -> AgentCredentials:
        """Active credentials, else :class:`CustomerInactive` / :class:`AiUnavailable`."""
        entry = self._cache.get(customer_id)
        if entry is not None and entry.expires_at > time.monotonic():
            credentials = entry.credentials
        else:
            task = self._inflight.get(customer_id)
            if task is None:
                task = asyncio.create_task(self._lookup(customer_id), name=customer_id)
                self._inflight[customer_id] = task
                task.add_done_callback(self._lookup_done)
            # Shielded: one caller going away must not cancel the lookup the others wait for.
            credentials = await asyncio.shield(task)
        if not credentials.is_active:
            raise CustomerInactive()
        return credentials

    def invalidate(self, customer_id: str) -> None:
        """Forget the customer, e.g. after Saturn refused their key (suspended, rotated)."""
        self._cache.pop(customer_id, None)

    def _lookup_done(self, task: asyncio.Task[AgentCredentials]) -> None:
        self._inflight.pop(task.get_name(), None)
        if not task.cancelled():
            task.exception()  # retrieved, in case every waiter went away before the end

    async def _lookup(self, customer_id: str) -> AgentCredentials:
        try:
            credentials = await self._tenant_api.get_agent(customer_id)
        except TenantApiNotFound as exc:
            raise UnknownCustomer() from exc
        except (TenantApiUnavailable, TenantApiRequestError) as exc:
            # A 4xx here is a wiring problem (service token), never the customer's fault.
            raise AiUnavailable() from exc
        if self._ttl > 0:
            if len(self._cache) >= _PRUNE_AT:
                self._prune()
            self._cache[customer_id] = _Entry(credentials, time.monotonic() + self._ttl)
        return credentials

    def _prune(self) -> None:
        now = time.monotonic()
        for key in [k for k, e in self._cache.items() if e.expires_at <= now]:
            del self._cache[key]
