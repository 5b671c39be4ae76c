"""tenant-api's internal routes, as the gateway uses them.

::

    TenantApiError                 every failure
    ├── TenantApiUnavailable       network, timeout, 5xx: retryable
    └── TenantApiRequestError      4xx: refused; carries status, code and message
        └── TenantApiNotFound      404 (unknown customer)
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from copilot_kit.http import make_http_client

M = TypeVar("M", bound=BaseModel)


class TenantApiError(Exception):
    def __init__(self, message: str, *, status: int | None = None, code: str = "unknown") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class TenantApiUnavailable(TenantApiError):
    pass


class TenantApiRequestError(TenantApiError):
    pass


class TenantApiNotFound(TenantApiRequestError):
    pass


class CustomerStatus(StrEnum):
    ACTIVE = "active"
    CHURNED = "churned"


class AgentCredentials(BaseModel):
    """``GET /internal/v1/customers/{id}/agent``. The key is a SecretStr: its repr is ``***``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    customer_id: str
    status: str
    plan: str
    agent_id: str | None = None
    agent_api_key: SecretStr | None = None
    daily_cap_usd_cents: int
    per_call_cap_usd_cents: int | None = None
    upgrade_url: str | None = None
    # Not sent by tenant-api today; when it is, 0 spares a burst request that cannot succeed.
    burst_days_per_month: int | None = None

    @property
    def is_active(self) -> bool:
        return self.status == CustomerStatus.ACTIVE and self.agent_api_key is not None


class UsageToday(BaseModel):
    model_config = ConfigDict(extra="allow")

    date: date
    spent_usd_micros: int
    daily_cap_usd_cents: int
    remaining_usd_micros: int
    resets_at: datetime
    at_cap: bool


class UsageMonth(BaseModel):
    model_config = ConfigDict(extra="allow")

    month: str
    spent_usd_micros: int
    requests: int
    limited_requests: int
    days_at_cap: int


class UsageDay(BaseModel):
    model_config = ConfigDict(extra="allow")

    date: date
    spent_usd_micros: int
    requests: int
    limited_requests: int
    at_cap: bool


class CustomerUsage(BaseModel):
    """The Usage shape of DESIGN.md; fields tenant-api adds later pass through."""

    model_config = ConfigDict(extra="allow")

    today: UsageToday
    month: UsageMonth
    days: list[UsageDay]


class UsageOutcome(StrEnum):
    OK = "ok"
    DAILY_LIMIT = "daily_limit"
    PER_CALL_LIMIT = "per_call_limit"
    ERROR = "error"


class UsageEvent(BaseModel):
    """One request's outcome; tenant-api deduplicates by ``id``."""

    model_config = ConfigDict(extra="forbid")

    id: str
    customer_id: str
    outcome: UsageOutcome
    cost_usd_micros: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    model: str | None = None


class UsageEventsResult(BaseModel):
    model_config = ConfigDict(extra="ignore")

    accepted: int
    duplicates: int = 0


class BurstDecision(StrEnum):
    GRANTED = "granted"
    ALREADY_GRANTED_TODAY = "already_granted_today"
    NO_BURST_ALLOWANCE = "no_burst_allowance"
    BURST_DAYS_USED_UP = "burst_days_used_up"
    CUSTOMER_INACTIVE = "customer_inactive"


class BurstGrant(BaseModel):
    """``POST /internal/v1/customers/{id}/burst``: today's cap, raised or not."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    granted: bool
    reason: str  # a BurstDecision; kept a str so a new reason does not make the answer unreadable
    customer_id: str
    date: date
    daily_cap_usd_cents: int
    burst_days_used: int = 0
    burst_days_per_month: int = 0


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str | None = None
    code: str = "unknown"
    message: str = ""


class TenantApiClient:
    """One long-lived HTTP client to tenant-api, authenticated with the service token."""

    def __init__(
        self,
        *,
        base_url: str,
        service_token: SecretStr,
        timeout: float = 5.0,
        connect_timeout: float = 1.0,
        max_connections: int = 64,
        max_retries: int = 1,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._max_retries = max_retries
        self._http = make_http_client(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            max_connections=max_connections,
            headers={"Authorization": f"Bearer {service_token.get_secret_value()}"},
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"TenantApiClient(base_url={str(self._http.base_url)!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def get_agent(self, customer_id: str) -> AgentCredentials:
        """The customer's agent and plan limits; :class:`TenantApiNotFound` if unknown."""
        response = await self._request(
            "GET", f"/internal/v1/customers/{_segment(customer_id)}/agent", idempotent=True
        )
        return _parse(AgentCredentials, response)

    async def get_usage(self, customer_id: str) -> CustomerUsage:
        response = await self._request(
            "GET", f"/internal/v1/customers/{_segment(customer_id)}/usage", idempotent=True
        )
        return _parse(CustomerUsage, response)

    async def request_burst(self, customer_id: str) -> BurstGrant:
        """Ask for today's burst allowance (tenant-api raises the cap at Saturn before it
        answers; idempotent within a UTC day). Not retried here: a request waits on it."""
        response = await self._request(
            "POST", f"/internal/v1/customers/{_segment(customer_id)}/burst", idempotent=False
        )
        return _parse(BurstGrant, response)

    async def record_usage_events(self, events: Sequence[UsageEvent]) -> UsageEventsResult:
        """Idempotent by event id, so the recorder may resend a batch after a failure."""
        payload = {"events": [event.model_dump(mode="json") for event in events]}
        response = await self._request(
            "POST", "/internal/v1/usage-events", json=payload, idempotent=False
        )
        return _parse(UsageEventsResult, response)

    async def _request(
        self, method: str, path: str, *, json: Any = None, idempotent: bool
    ) -> httpx.Response:
        attempts = 1 + (self._max_retries if idempotent else 0)
        for attempt in range(attempts):
            try:
                response = await self._http.request(method, path, json=json)
            except httpx.TransportError as exc:
                error: TenantApiError = TenantApiUnavailable(
                    f"tenant-api could not be reached: {type(exc).__name__}"
                )
                cause: BaseException = exc
            else:
                if response.status_code < 400:
                    return response
                error = _error_from(response)
                cause = error
                if not isinstance(error, TenantApiUnavailable):
                    raise error
            if attempt + 1 >= attempts:
                raise error from cause
            await asyncio.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover


def _segment(value: str) -> str:
    # Customer ids come from verified tokens, but a path segment must never smuggle a "/".
    return quote(value, safe="")


def _error_from(response: httpx.Response) -> TenantApiError:
    status = response.status_code
    try:
        envelope = _Envelope.model_validate(response.json().get("error") or {})
    except (ValueError, AttributeError, ValidationError):
        envelope = _Envelope(message=response.reason_phrase)
    message = envelope.message or f"tenant-api answered {status}"
    if status >= 500:
        return TenantApiUnavailable(message, status=status, code=envelope.code)
    if status == 404:
        return TenantApiNotFound(message, status=status, code=envelope.code)
    return TenantApiRequestError(message, status=status, code=envelope.code)


def _parse(model: type[M], response: httpx.Response) -> M:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        # A reply we cannot read is tenant-api misbehaving, not the customer's fault.
        raise TenantApiUnavailable(
            f"tenant-api sent an unreadable {model.__name__}: {exc.error_count()} errors",
            status=response.status_code,
            code="bad_response",
        ) from exc


__all__ = [
    "AgentCredentials",
    "BurstDecision",
    "BurstGrant",
    "CustomerStatus",
    "CustomerUsage",
    "TenantApiClient",
    "TenantApiError",
    "TenantApiNotFound",
    "TenantApiRequestError",
    "TenantApiUnavailable",
    "UsageEvent",
    "UsageEventsResult",
    "UsageOutcome",
]
