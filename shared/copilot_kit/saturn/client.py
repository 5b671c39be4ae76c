"""Typed async client for a Saturn server: the hosted API, a self-hosted one, or saturn-local.

One :class:`SaturnClient` per process is meant to serve every customer: management calls use
the key given at construction (the account's primary key), while :meth:`SaturnClient.reason`
takes each customer's agent key per call. Failures surface as the typed tree in
:mod:`copilot_kit.saturn.errors`; only idempotent calls are retried.
"""

from __future__ import annotations

import asyncio
import json as json_module
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Literal, TypeVar

import aiohttp
import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from copilot_kit.http import make_http_client
from copilot_kit.logs import scrub
from copilot_kit.money import MICROS_PER_CENT
from copilot_kit.saturn.errors import (
    SaturnAuthError,
    SaturnBudgetExceeded,
    SaturnConnectionError,
    SaturnDailyLimitExceeded,
    SaturnError,
    SaturnIdempotencyConflict,
    SaturnInsufficientBalance,
    SaturnKillSwitchActive,
    SaturnNotFound,
    SaturnPerCallLimitExceeded,
    SaturnPolicyDenied,
    SaturnRateLimited,
    SaturnRequestError,
    SaturnServerError,
    SaturnTimeout,
    SaturnUnavailable,
    SaturnUnsupported,
    SaturnUpstreamError,
    SaturnValidationError,
)
from copilot_kit.saturn.models import (
    Agent,
    AgentSpend,
    AgentStatus,
    AgentUsage,
    AgentWithKey,
    Policy,
    PolicyUpdate,
    ReasonRequest,
    ReasonResult,
    Receipt,
    Usage,
    WireModel,
)

__all__ = ["SaturnClient"]

logger = logging.getLogger("copilot_kit.saturn")

_M = TypeVar("_M", bound=BaseModel)
_Method = Literal["GET", "POST", "PATCH", "PUT", "DELETE"]

_REASON_PATH = "/v1/capabilities/reason"
_DEFAULT_HEADERS = {"Accept": "application/json", "User-Agent": "copilot-kit-saturn/1"}
# Below the 5 s idle timeout of uvicorn and Node: a pooled connection is never picked up just
# as the server closes it (a POST that dies that way cannot be retried safely).
_KEEPALIVE_SECONDS = 4.0

_BACKOFF_BASE_SECONDS = 0.05
_BACKOFF_FACTOR = 4.0
_BACKOFF_CAP_SECONDS = 1.0
_sleep = asyncio.sleep  # indirection so tests can observe the backoff without waiting

_BUDGET_CLASSES: dict[str, type[SaturnBudgetExceeded]] = {
    "daily_limit_exceeded": SaturnDailyLimitExceeded,
    "per_call_limit_exceeded": SaturnPerCallLimitExceeded,
}
_SIMPLE_CODES: dict[str, type[SaturnError]] = {
    "VALIDATION_ERROR": SaturnValidationError,
    "UNAUTHORIZED": SaturnAuthError,
    "INSUFFICIENT_BALANCE": SaturnInsufficientBalance,
    "CREDIT_EXHAUSTED": SaturnInsufficientBalance,
    "NOT_FOUND": SaturnNotFound,
    "NOT_AVAILABLE": SaturnNotFound,
    "IDEMPOTENCY_KEY_REUSED": SaturnIdempotencyConflict,
    "UPSTREAM_ERROR": SaturnUpstreamError,
    "PROVIDER_ERROR": SaturnUpstreamError,
    "INTERNAL_ERROR": SaturnServerError,
    "PROVIDER_UNAVAILABLE": SaturnServerError,
}
_SIMPLE_STATUSES: dict[int, type[SaturnError]] = {401: SaturnAuthError, 404: SaturnNotFound}


class _ReasonBody(WireModel):
    content: str | None  # required (null allowed): a body without it is not an answer
    model: str = ""
    usage: Usage = Usage()


class SaturnClient:
    """Async client for Saturn's wire protocol with one long-lived connection pool.

    ``timeout`` bounds reading a response and, together with ``connect_timeout``, the whole
    of one attempt. ``max_retries`` applies to idempotent calls only (GET, policy/status
    PATCH, DELETE, health) and only on transient failures (:class:`SaturnUnavailable`, 429).
    ``transport`` replaces the aiohttp transport, e.g. with a respx mock in tests.

    :meth:`reason`, the per-customer hot path, goes straight through one long-lived
    ``aiohttp.ClientSession`` (about half the CPU of httpx on the aiohttp transport); with an
    injected ``transport`` it goes through httpx like every other call. Both paths send the
    same bytes and turn the same answer into the same result or typed error.
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | SecretStr | None = None,
        timeout: float = 10.0,
        connect_timeout: float = 2.0,
        max_retries: int = 2,
        max_connections: int = 200,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if timeout <= 0 or connect_timeout <= 0:
            raise ValueError("timeouts must be positive")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.base_url = base_url.rstrip("/")
        self._api_key = _secret(api_key)
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._max_retries = max_retries
        self._max_connections = max_connections
        self._http = make_http_client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            max_connections=max_connections,
            headers=_DEFAULT_HEADERS,
            transport=transport,
        )
        self._direct = transport is None
        self._session: aiohttp.ClientSession | None = None  # opened on first use, in the loop
        self._reason_url = self.base_url + _REASON_PATH
        self._reason_timeout = self._client_timeout(timeout)

    def __repr__(self) -> str:
        key = "***" if self._api_key is not None else None
        return f"SaturnClient(base_url={self.base_url!r}, api_key={key!r})"

    async def aclose(self) -> None:
        """Close the connection pools; the client is unusable afterwards."""
        if self._session is not None:
            await self._session.close()
        await self._http.aclose()

    async def __aenter__(self) -> SaturnClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- management (primary key) -------------------------------------------------------

    async def create_agent(self, name: str, metadata: dict[str, Any] | None = None) -> AgentWithKey:
        """Create a worker agent; the returned key is shown only this once. Never retried."""
        body: dict[str, Any] = {"name": name}
        if metadata is not None:
            body["metadata"] = metadata
        response = await self._request("POST", "/v1/agents", json=body, retry=False)
        return _parse(AgentWithKey, response)

    async def create_agent_with_caps(
        self,
        name: str,
        *,
        max_per_call_usd_cents: int | None,
        max_per_day_usd_cents: int | None,
    ) -> AgentWithKey:
        """Create an agent, then set its caps with a policy PATCH.

        The real server silently drops caps sent with the create, so they always go in a
        second request. If that fails the new agent is deleted (best effort) before the
        error is re-raised, so no uncapped agent is left with a live key.
        """
        agent = await self.create_agent(name)
        try:
            await self.set_caps(
                agent.id,
                max_per_call_usd_cents=max_per_call_usd_cents,
                max_per_day_usd_cents=max_per_day_usd_cents,
            )
        except Exception:
            try:
                await self.delete_agent(agent.id)
            except SaturnError:
                logger.warning("could not delete uncapped agent %s after a failed cap", agent.id)
            raise
        return agent

    async def get_agent(self, agent_id: str) -> Agent:
        """``GET /v1/agents/{id}``."""
        response = await self._request("GET", f"/v1/agents/{_seg(agent_id)}")
        return _parse(Agent, response)

    async def list_agents(self) -> list[Agent]:
        """Every agent of the account (a bare array on the real server)."""
        response = await self._request("GET", "/v1/agents")
        return _parse_list(Agent, response)

    async def find_agent_by_name(self, name: str) -> Agent | None:
        """The first agent named ``name`` that is not killed, or ``None``."""
        for agent in await self.list_agents():
            if agent.name == name and agent.status is not AgentStatus.KILLED:
                return agent
        return None

    async def get_policy(self, agent_id: str) -> Policy:
        """``GET /v1/agents/{id}/policy`` (caps as USD cents; the real server derives them)."""
        response = await self._request("GET", f"/v1/agents/{_seg(agent_id)}/policy")
        return _parse(Policy, response)

    async def update_policy(self, agent_id: str, update: PolicyUpdate) -> Policy:
        """PATCH the policy with only the fields set on ``update``."""
        body = update.model_dump(by_alias=True, exclude_unset=True, mode="json")
        if not body:
            return await self.get_policy(agent_id)
        response = await self._request("PATCH", f"/v1/agents/{_seg(agent_id)}/policy", json=body)
        return _parse(Policy, response)

    async def set_caps(
        self,
        agent_id: str,
        *,
        max_per_call_usd_cents: int | None,
        max_per_day_usd_cents: int | None,
    ) -> Policy:
        """Set both caps at once (``None`` = no limit)."""
        return await self.update_policy(
            agent_id,
            PolicyUpdate(
                max_per_call_usd_cents=max_per_call_usd_cents,
                max_per_day_usd_cents=max_per_day_usd_cents,
            ),
        )

    async def suspend_agent(self, agent_id: str) -> Agent:
        """Reversibly disable the agent: its key gets 401 until :meth:`activate_agent`."""
        return await self._set_status(agent_id, AgentStatus.SUSPENDED)

    async def activate_agent(self, agent_id: str) -> Agent:
        """Re-enable a suspended agent."""
        return await self._set_status(agent_id, AgentStatus.ACTIVE)

    async def delete_agent(self, agent_id: str) -> None:
        """Permanently kill the agent (soft delete on the server; 204)."""
        await self._request("DELETE", f"/v1/agents/{_seg(agent_id)}")

    async def regenerate_key(self, agent_id: str) -> AgentWithKey:
        """Issue a new key; the old one stops working. Never retried."""
        response = await self._request(
            "POST", f"/v1/agents/{_seg(agent_id)}/regenerate", retry=False
        )
        return _parse(AgentWithKey, response)

    async def list_agent_spend(self) -> list[AgentSpend]:
        """Today's spend and call counts per agent (``GET /v1/admin/agents``)."""
        response = await self._request("GET", "/v1/admin/agents")
        return _parse_list(AgentSpend, response)

    async def get_usage(self, agent_id: str, days: int = 31) -> AgentUsage:
        """Daily usage rows (saturn-local extension).

        Raises :class:`SaturnUnsupported` when the server has no such route (the real
        server answers 404 with a route-level message or an HTML page), and
        :class:`SaturnNotFound` when the route exists but the agent does not.
        """
        if days <= 0:
            raise ValueError("days must be positive")
        try:
            response = await self._request(
                "GET", f"/v1/agents/{_seg(agent_id)}/usage", params={"days": days}
            )
        except SaturnError as exc:
            if exc.status in (404, 405, 501) and not (
                exc.status == 404 and exc.code != "UNKNOWN" and "agent" in exc.message.lower()
            ):
                raise SaturnUnsupported(
                    "this Saturn server has no usage extension",
                    status=exc.status,
                    code=exc.code,
                    details=exc.details,
                ) from exc
            raise
        return _parse(AgentUsage, response)

    async def health(self) -> bool:
        """``True`` when ``GET /health`` answers 2xx (after retries), else ``False``."""
        try:
            await self._request("GET", "/health", auth=False)
        except SaturnError:
            return False
        return True

    # -- capability calls (agent key) ---------------------------------------------------

    async def reason(
        self,
        request: ReasonRequest,
        *,
        api_key: str | SecretStr | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - per-call override is the contract
    ) -> ReasonResult:
        """Run the ``reason`` capability with ``api_key`` (default: the client's key).

        Never retried: a repeat would be charged again on servers without idempotency.
        The receipt comes from the ``X-Saturn-*`` headers; any missing or garbled header
        is ``None``. Budget denials raise :class:`SaturnBudgetExceeded` subclasses.
        """
        # Serialized once, straight to bytes: a prompt may be megabytes.
        payload = request.__pydantic_serializer__.to_json(request, by_alias=True, exclude_none=True)
        headers = {"Content-Type": "application/json"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if not self._direct:
            response = await self._request(
                "POST",
                _REASON_PATH,
                content=payload,
                retry=False,
                api_key=api_key,
                headers=headers,
                per_call_timeout=timeout,
            )
            return _reason_result(response.status_code, response.headers, response.content)
        headers["Authorization"] = self._authorization(api_key)
        client_timeout = self._reason_timeout if timeout is None else self._client_timeout(timeout)
        session = self._session
        if session is None:
            session = self._session = self._open_session()
        try:
            async with session.post(
                self._reason_url, data=payload, headers=headers, timeout=client_timeout
            ) as answer:
                status, answer_headers, content = answer.status, answer.headers, await answer.read()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise _transport_failure(exc, "POST", _REASON_PATH) from exc
        return _reason_result(status, answer_headers, content)

    # -- plumbing -----------------------------------------------------------------------

    def _client_timeout(self, read_timeout: float) -> aiohttp.ClientTimeout:
        # The same bounds as the httpx path: per socket operation, and the whole attempt.
        return aiohttp.ClientTimeout(
            total=read_timeout + self._connect_timeout,
            sock_connect=self._connect_timeout,
            sock_read=read_timeout,
        )

    def _open_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._max_connections, keepalive_timeout=_KEEPALIVE_SECONDS
        )
        # No cookie jar: one client serves every customer, nothing may carry between them.
        return aiohttp.ClientSession(
            connector=connector,
            headers=_DEFAULT_HEADERS,
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=self._reason_timeout,
        )

    def _authorization(self, api_key: str | SecretStr | None) -> str:
        # Only an absent per-call key falls back: an empty customer key must never turn into
        # a call billed to the primary agent.
        key = _secret(api_key) if api_key is not None else self._api_key
        if key is None or not key.get_secret_value():
            raise ValueError("a Saturn API key is required for this call")
        return f"Bearer {key.get_secret_value()}"

    async def _set_status(self, agent_id: str, status: AgentStatus) -> Agent:
        response = await self._request(
            "PATCH", f"/v1/agents/{_seg(agent_id)}", json={"status": status.value}
        )
        return _parse(Agent, response)

    async def _request(
        self,
        method: _Method,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, str | int] | None = None,
        retry: bool = True,
        auth: bool = True,
        api_key: str | SecretStr | None = None,
        headers: Mapping[str, str] | None = None,
        per_call_timeout: float | None = None,
    ) -> httpx.Response:
        request_headers = dict(headers or {})
        if auth:
            request_headers["Authorization"] = self._authorization(api_key)
        read_timeout = per_call_timeout if per_call_timeout is not None else self._timeout
        attempts = 1 + (self._max_retries if retry else 0)
        for attempt in range(attempts):
            try:
                return await self._send_once(
                    method, path, json, content, params, request_headers, read_timeout
                )
            except (SaturnUnavailable, SaturnRateLimited) as exc:
                delay = min(_BACKOFF_BASE_SECONDS * _BACKOFF_FACTOR**attempt, _BACKOFF_CAP_SECONDS)
                if isinstance(exc, SaturnRateLimited) and exc.retry_after_seconds is not None:
                    if exc.retry_after_seconds > _BACKOFF_CAP_SECONDS:
                        raise  # waiting that long belongs to the caller, not a retry loop
                    delay = max(delay, exc.retry_after_seconds)
                if attempt + 1 >= attempts:
                    raise
                logger.info(
                    "saturn %s %s failed (%s), retry %d/%d in %.2fs",
                    method,
                    path,
                    type(exc).__name__,
                    attempt + 1,
                    attempts - 1,
                    delay,
                )
                await _sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send_once(
        self,
        method: _Method,
        path: str,
        json: Any,
        content: bytes | None,
        params: Mapping[str, str | int] | None,
        headers: dict[str, str],
        read_timeout: float,
    ) -> httpx.Response:
        # httpx's timeouts bound each socket operation; asyncio's bounds the whole attempt
        # (a server trickling bytes would otherwise never time out).
        try:
            async with asyncio.timeout(read_timeout + self._connect_timeout):
                response = await self._http.request(
                    method,
                    path,
                    json=json,
                    content=content,
                    params=params,
                    headers=headers,
                    timeout=httpx.Timeout(read_timeout, connect=self._connect_timeout),
                )
        except (httpx.TransportError, TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise _transport_failure(exc, method, path) from exc
        if response.is_success:
            return response
        raise _error_from(response.status_code, response.headers, response.content)


# -- response parsing ---------------------------------------------------------------------


def _transport_failure(exc: BaseException, method: str, path: str) -> SaturnUnavailable:
    """Timeout or connection failure, judged by aiohttp's own exception when httpx wraps one.

    httpx-aiohttp reports any aiohttp connection error (refused included) as
    ``httpx.ConnectTimeout``; its cause is what the direct path sees, so both agree.
    """
    cause = exc.__cause__
    root = cause if isinstance(cause, aiohttp.ClientError) else exc
    if isinstance(root, httpx.TimeoutException | TimeoutError):
        return SaturnTimeout(f"Saturn did not answer {method} {path} in time", code="TIMEOUT")
    return SaturnConnectionError(
        f"could not reach Saturn for {method} {path}: {type(root).__name__}",
        code="CONNECTION_ERROR",
    )


def _reason_result(status: int, headers: Mapping[str, str], content: bytes) -> ReasonResult:
    if not 200 <= status < 300:
        raise _error_from(status, headers, content)
    try:
        parsed = _ReasonBody.model_validate_json(content)
    except ValidationError:
        parsed = _reason_body_slow(status, content)
    return ReasonResult(
        content=parsed.content or "",
        model=parsed.model,
        usage=parsed.usage,
        receipt=_receipt(headers),
    )


def _reason_body_slow(status: int, content: bytes) -> _ReasonBody:
    """The precise complaint about a body the one-pass parse refused."""
    data = _loads(status, content)
    if not isinstance(data, dict) or "content" not in data:
        raise SaturnError(
            "Saturn returned a reason response without content",
            status=status,
            code="BAD_RESPONSE",
        )
    return _validate(_ReasonBody, data, status)


def _loads(status: int, content: bytes) -> Any:
    try:
        return json_module.loads(content)
    except ValueError as exc:
        raise SaturnError(
            "Saturn returned a body that is not JSON", status=status, code="BAD_RESPONSE"
        ) from exc


def _secret(value: str | SecretStr | None) -> SecretStr | None:
    if value is None or isinstance(value, SecretStr):
        return value
    return SecretStr(value)


def _seg(value: str) -> str:
    """One URL path segment; an id containing '/' must not reach another route."""
    if not value or "/" in value or value in (".", ".."):
        raise ValueError(f"invalid Saturn id {value!r}")
    return value


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise SaturnError(
            "Saturn returned a body that is not JSON",
            status=response.status_code,
            code="BAD_RESPONSE",
        ) from exc


def _validate(model: type[_M], data: Any, status: int) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SaturnError(
            f"Saturn returned an unexpected {model.__name__} shape",
            status=status,
            code="BAD_RESPONSE",
        ) from exc


def _parse(model: type[_M], response: httpx.Response) -> _M:
    return _validate(model, _json(response), response.status_code)


def _parse_list(model: type[_M], response: httpx.Response) -> list[_M]:
    data = _json(response)
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise SaturnError(
            f"Saturn returned no {model.__name__} list",
            status=response.status_code,
            code="BAD_RESPONSE",
        )
    return [_validate(model, item, response.status_code) for item in data]


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                return None
            return int(number) if number.is_integer() else None
    return None


def _receipt(headers: Mapping[str, str]) -> Receipt:
    def text(name: str) -> str | None:
        value = (headers.get(name) or "").strip()
        return value or None

    def number(name: str) -> int | None:
        return _int(headers.get(name))

    return Receipt(
        audit_id=text("X-Saturn-Audit-Id"),
        quoted_sats=number("X-Saturn-Quoted-Sats"),
        charged_sats=number("X-Saturn-Charged-Sats"),
        quoted_usd_cents=number("X-Saturn-Quoted-Usd-Cents"),
        charged_usd_cents=number("X-Saturn-Charged-Usd-Cents"),
        balance_after=number("X-Saturn-Balance-After"),
        capability=text("X-Saturn-Capability"),
        provider=text("X-Saturn-Provider"),
        quoted_usd_micros=number("X-Saturn-Quoted-Usd-Micros"),
        charged_usd_micros=number("X-Saturn-Charged-Usd-Micros"),
        spent_today_usd_micros=number("X-Saturn-Spent-Today-Usd-Micros"),
        daily_cap_usd_micros=number("X-Saturn-Daily-Cap-Usd-Micros"),
        idempotent_replay=(headers.get("X-Saturn-Idempotent-Replay") or "").strip().lower()
        == "true",
    )


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``Retry-After`` (seconds or HTTP date) or ``RateLimit-Reset``."""
    for name in ("Retry-After", "RateLimit-Reset"):
        raw = headers.get(name)
        if raw is None:
            continue
        raw = raw.strip()
        try:
            return max(0.0, float(raw))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    return None


def _datetime(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _budget_figures(code: str, details: Any) -> dict[str, Any]:
    if not isinstance(details, dict):
        return {}
    if code == "BUDGET_EXCEEDED":
        # The documented details are USD cents.
        def cents(key: str) -> int | None:
            value = _int(details.get(key))
            return None if value is None else value * MICROS_PER_CENT

        return {
            "spent_usd_micros": cents("dailySpent"),
            "cap_usd_micros": cents("dailyCap"),
            "quote_usd_micros": cents("quotedCost"),
        }
    return {
        "spent_usd_micros": _int(details.get("spentUsdMicros")),
        "held_usd_micros": _int(details.get("heldUsdMicros")),
        "cap_usd_micros": _int(details.get("capUsdMicros")),
        "quote_usd_micros": _int(details.get("quoteUsdMicros")),
        "resets_at": _datetime(details.get("resetsAt")),
    }


def _policy_reason(message: str, details: Any) -> str:
    if isinstance(details, dict) and isinstance(details.get("reason"), str):
        return str(details["reason"])
    match = re.match(r"^\s*([a-z_]+)\b", message)
    return match.group(1) if match else message


def _error_from(status: int, headers: Mapping[str, str], content: bytes) -> SaturnError:
    """Map a non-2xx answer to the typed tree (envelope code first, then status)."""
    code, message, details = "UNKNOWN", "", None
    try:
        data = json_module.loads(content) if content else None
    except ValueError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        code = error["code"]
        message = str(error.get("message") or "")
        details = error.get("details")
    else:
        # Not Saturn's envelope: a proxy page, a rate limiter's text, a passthrough body.
        text = content[:1024].decode("utf-8", "replace")[:200].strip()
        snippet = scrub(text) if text else ""
        message = f"HTTP {status}" + (f": {snippet}" if snippet else "")
        details = data if isinstance(data, dict | list) else None
    message = message or f"HTTP {status} {code}"
    common: dict[str, Any] = {"status": status, "code": code, "details": details}

    if status == 429 or code in ("RATE_LIMIT", "RATE_LIMITED"):
        return SaturnRateLimited(message, retry_after_seconds=_retry_after(headers), **common)
    if code == "BUDGET_EXCEEDED":
        return SaturnDailyLimitExceeded(
            message, reason="daily_limit_exceeded", **_budget_figures(code, details), **common
        )
    if code == "AGENT_KILLED":
        return SaturnKillSwitchActive(message, reason="kill_switch_active", **common)
    if code == "CAPABILITY_DENIED":
        return SaturnPolicyDenied(message, reason="capability_denied", **common)
    if code == "POLICY_DENIED":
        reason = _policy_reason(message, details)
        budget_class = _BUDGET_CLASSES.get(reason)
        if budget_class is not None:
            return budget_class(message, reason=reason, **_budget_figures(code, details), **common)
        if reason == "kill_switch_active":
            return SaturnKillSwitchActive(message, reason=reason, **common)
        return SaturnPolicyDenied(message, reason=reason, **common)
    known = _SIMPLE_CODES.get(code)
    if known is not None:
        return known(message, **common)
    by_status = _SIMPLE_STATUSES.get(status)
    if by_status is not None:
        return by_status(message, **common)
    if status >= 500:
        return SaturnServerError(message, **common)
    if status >= 400:
        return SaturnRequestError(message, **common)
    return SaturnError(message, **common)
