"""The gateway with its real clients, and respx routers standing in for tenant-api and Saturn.

No database: the gateway has none. ``Fake*`` hold the remote's state so a test can change
it (churn a customer, make tenant-api fail) and read what the gateway sent.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from copilot_gateway.config import Settings
from copilot_gateway.main import create_app
from copilot_gateway.state import GatewayState
from copilot_kit.tokens import issue_token

TENANT_URL = "http://tenant-api.test"
SATURN_URL = "http://saturn.test"
TOKEN_SECRET = "test-token-secret-0123456789abcdef"
SERVICE_TOKEN = "svc_test_service_token_0123456789"


def agent_key(customer_id: str) -> str:
    return "sk_agt_" + (customer_id.encode().hex() * 64)[:64]


def token_for(customer_id: str, *, ttl_seconds: int = 600, secret: str = TOKEN_SECRET) -> str:
    token, _ = issue_token(
        secret=secret.encode(), prefix="cat", subject=customer_id, ttl_seconds=ttl_seconds
    )
    return token


def auth(customer_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(customer_id)}"}


@dataclass
class FakeTenantApi:
    """tenant-api's internal routes."""

    router: respx.MockRouter
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)
    batches: list[list[dict[str, Any]]] = field(default_factory=list)
    lookup_delay: float = 0.0
    agent_failures: list[httpx.Response | Exception] = field(default_factory=list)
    events_failures: list[httpx.Response | Exception] = field(default_factory=list)
    usage_payload: dict[str, Any] | None = None
    service_tokens_seen: set[str] = field(default_factory=set)
    batch_arrived: asyncio.Event = field(default_factory=asyncio.Event)
    # Burst: each request pops ``burst_replies`` (a Response, an exception, or a BurstResult
    # dict), else answers ``no_burst_allowance``; ``on_burst`` runs first (e.g. raise a cap).
    burst_calls: list[str] = field(default_factory=list)
    burst_replies: list[Any] = field(default_factory=list)
    burst_delay: float = 0.0
    on_burst: Callable[[str], None] | None = None

    def add(self, customer_id: str, **overrides: Any) -> dict[str, Any]:
        row = {
            "customer_id": customer_id,
            "status": "active",
            "plan": "pro",
            "agent_id": f"agt_{customer_id}",
            "agent_api_key": agent_key(customer_id),
            "daily_cap_usd_cents": 1000,
            "per_call_cap_usd_cents": 100,
            "upgrade_url": "/pricing",
            **overrides,
        }
        self.customers[customer_id] = row
        return row

    def churn(self, customer_id: str) -> None:
        self.customers[customer_id].update(status="churned", agent_api_key=None)

    @property
    def events(self) -> list[dict[str, Any]]:
        return [event for batch in self.batches for event in batch]

    async def _agent(self, request: httpx.Request, customer_id: str) -> httpx.Response:
        self.service_tokens_seen.add(request.headers.get("authorization", ""))
        self.lookups.append(customer_id)
        if self.lookup_delay:
            await asyncio.sleep(self.lookup_delay)
        if self.agent_failures:
            failure = self.agent_failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return failure
        row = self.customers.get(customer_id)
        if row is None:
            return httpx.Response(
                404, json={"error": {"type": "not_found", "code": "not_found", "message": "no"}}
            )
        return httpx.Response(200, json=row)

    async def wait_for_events(self, count: int) -> None:
        """Until ``count`` distinct events arrived (3 s at most)."""
        async with asyncio.timeout(3):
            while len({event["id"] for event in self.events}) < count:
                self.batch_arrived.clear()
                await self.batch_arrived.wait()

    async def _events(self, request: httpx.Request) -> httpx.Response:
        if self.events_failures:
            failure = self.events_failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return failure
        events = json.loads(request.content)["events"]
        seen = {event["id"] for event in self.events}
        self.batches.append(events)
        self.batch_arrived.set()
        duplicates = sum(1 for event in events if event["id"] in seen)
        return httpx.Response(
            200, json={"accepted": len(events) - duplicates, "duplicates": duplicates}
        )

    async def _usage(self, request: httpx.Request, customer_id: str) -> httpx.Response:
        if self.usage_payload is None or customer_id not in self.customers:
            return httpx.Response(
                404, json={"error": {"type": "not_found", "code": "not_found", "message": "no"}}
            )
        return httpx.Response(200, json=self.usage_payload)

    async def _burst(self, request: httpx.Request, customer_id: str) -> httpx.Response:
        self.service_tokens_seen.add(request.headers.get("authorization", ""))
        self.burst_calls.append(customer_id)
        if self.burst_delay:
            await asyncio.sleep(self.burst_delay)
        if customer_id not in self.customers:
            return httpx.Response(
                404,
                json={
                    "error": {"type": "not_found", "code": "customer_not_found", "message": "no"}
                },
            )
        reply = (
            self.burst_replies.pop(0) if self.burst_replies else burst_answer("no_burst_allowance")
        )
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, httpx.Response):
            return reply
        if self.on_burst is not None:
            self.on_burst(customer_id)
        return httpx.Response(200, json={"customer_id": customer_id, **reply})

    def install(self) -> None:
        self.router.post(path__regex=r"^/internal/v1/customers/(?P<customer_id>[^/]+)/burst$").mock(
            side_effect=self._burst
        )
        self.router.get(path__regex=r"^/internal/v1/customers/(?P<customer_id>[^/]+)/agent$").mock(
            side_effect=self._agent
        )
        self.router.get(path__regex=r"^/internal/v1/customers/(?P<customer_id>[^/]+)/usage$").mock(
            side_effect=self._usage
        )
        self.router.post("/internal/v1/usage-events").mock(side_effect=self._events)


def burst_answer(
    reason: str, *, daily_cap_usd_cents: int = 2000, used: int = 1, per_month: int = 3
) -> dict[str, Any]:
    """A ``BurstResult`` body as tenant-api sends it (without ``customer_id``)."""
    return {
        "granted": reason in ("granted", "already_granted_today"),
        "reason": reason,
        "date": datetime.now(UTC).date().isoformat(),
        "daily_cap_usd_cents": daily_cap_usd_cents,
        "burst_days_used": used,
        "burst_days_per_month": per_month,
    }


@dataclass
class FakeSaturn:
    """``POST /v1/capabilities/reason``; answers with ``reply`` (a Response, an exception, or
    a callable taking the request)."""

    router: respx.MockRouter
    requests: list[httpx.Request] = field(default_factory=list)
    reply: Any = None
    delay: float = 0.0

    async def _reason(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.delay:
            await asyncio.sleep(self.delay)
        reply = self.reply if self.reply is not None else ok_reply()
        if callable(reply) and not isinstance(reply, httpx.Response):
            reply = reply(request)
        if isinstance(reply, Exception):
            raise reply
        assert isinstance(reply, httpx.Response)
        return reply

    def install(self) -> None:
        self.router.post("/v1/capabilities/reason").mock(side_effect=self._reason)

    def keys_used(self) -> list[str]:
        return [r.headers["authorization"].removeprefix("Bearer ") for r in self.requests]

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


def ok_reply(
    *,
    content: str = "An answer.",
    model: str = "offline-1",
    input_tokens: int = 12,
    output_tokens: int = 7,
    charged_usd_micros: int | None = 1234,
    charged_usd_cents: int = 1,
    audit_id: str | None = "aud_01TEST",
    replay: bool = False,
    spent_today_usd_micros: int | None = None,
    daily_cap_usd_micros: int | None = None,
) -> httpx.Response:
    headers = {"X-Saturn-Charged-Usd-Cents": str(charged_usd_cents)}
    if spent_today_usd_micros is not None:
        headers["X-Saturn-Spent-Today-Usd-Micros"] = str(spent_today_usd_micros)
    if daily_cap_usd_micros is not None:
        headers["X-Saturn-Daily-Cap-Usd-Micros"] = str(daily_cap_usd_micros)
    if audit_id is not None:
        headers["X-Saturn-Audit-Id"] = audit_id
    if charged_usd_micros is not None:
        headers["X-Saturn-Charged-Usd-Micros"] = str(charged_usd_micros)
    if replay:
        headers["X-Saturn-Idempotent-Replay"] = "true"
    return httpx.Response(
        200,
        headers=headers,
        json={
            "content": content,
            "model": model,
            "usage": {
                "inputTokens": input_tokens,
                "outputTokens": output_tokens,
                "totalTokens": input_tokens + output_tokens,
            },
        },
    )


def saturn_error(
    status: int, code: str, message: str, details: Any = None, **headers: str
) -> httpx.Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return httpx.Response(status, json={"error": error}, headers=headers)


@dataclass
class Gateway:
    client: httpx.AsyncClient
    state: GatewayState
    tenant: FakeTenantApi
    saturn: FakeSaturn
    app: Any = None

    async def reason(
        self, customer_id: str = "cus_a", body: Any = None, **kwargs: Any
    ) -> httpx.Response:
        headers = {**auth(customer_id), **kwargs.pop("headers", {})}
        return await self.client.post(
            "/v1/copilot/reason",
            json={"prompt": "Summarise this."} if body is None else body,
            headers=headers,
            **kwargs,
        )

    async def wait_for_events(self, count: int) -> list[dict[str, Any]]:
        await self.tenant.wait_for_events(count)
        return self.tenant.events


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "tenant_api_url": TENANT_URL,
        "saturn_base_url": SATURN_URL,
        "copilot_service_token": SERVICE_TOKEN,
        "copilot_token_secret": TOKEN_SECRET,
        "gateway_saturn_timeout_seconds": 0.5,
        "gateway_saturn_connect_timeout_seconds": 0.2,
        "gateway_usage_flush_interval_seconds": 0.02,
        "gateway_usage_retry_max_seconds": 0.1,
        **overrides,
    }
    return Settings(**values)


GatewayFactory = Callable[..., Any]


@pytest.fixture
async def make_gateway() -> AsyncIterator[GatewayFactory]:
    """``await make_gateway(**settings)`` → a started :class:`Gateway`; stopped at teardown."""
    stack: list[Any] = []

    async def start(**overrides: Any) -> Gateway:
        tenant = FakeTenantApi(respx.MockRouter(base_url=TENANT_URL, assert_all_called=False))
        saturn = FakeSaturn(respx.MockRouter(base_url=SATURN_URL, assert_all_called=False))
        tenant.install()
        saturn.install()
        tenant.add("cus_a")
        tenant.add("cus_b", plan="free", daily_cap_usd_cents=100, per_call_cap_usd_cents=25)
        app = create_app(
            make_settings(**overrides),
            saturn_transport=httpx.MockTransport(saturn.router.async_handler),
            tenant_transport=httpx.MockTransport(tenant.router.async_handler),
        )
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway.test"
        )
        stack.append((lifespan, client))
        return Gateway(
            client=client, state=app.state.gateway, tenant=tenant, saturn=saturn, app=app
        )

    yield start
    for lifespan, client in reversed(stack):
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


@pytest.fixture
async def gateway(make_gateway: GatewayFactory) -> Gateway:
    gw: Gateway = await make_gateway()
    return gw
