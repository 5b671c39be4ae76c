"""Burst allowance: a refusal for the daily cap asks tenant-api for today's burst; if granted,
the refused request is retried once. Every failure of that path is the normal 429."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from copilot_gateway.clients.tenant_api import AgentCredentials, TenantApiClient
from copilot_gateway.copilot.burst import BurstAllowance

from .conftest import (
    SERVICE_TOKEN,
    TENANT_URL,
    FakeTenantApi,
    Gateway,
    GatewayFactory,
    burst_answer,
    ok_reply,
    saturn_error,
)

BASE_CAP = 10_000_000  # cus_a: pro, 1000 cents
BURST_CAP = 20_000_000


def daily_denial(cap_usd_micros: int | None = BASE_CAP) -> httpx.Response:
    """saturn-local's refusal (with details), or the real server's (``None``: no figures)."""
    if cap_usd_micros is None:
        return saturn_error(403, "POLICY_DENIED", "daily_limit_exceeded")
    return saturn_error(
        403,
        "POLICY_DENIED",
        "daily_limit_exceeded",
        {
            "spentUsdMicros": cap_usd_micros - 5_000,
            "heldUsdMicros": 0,
            "capUsdMicros": cap_usd_micros,
            "quoteUsdMicros": 20_000,
        },
    )


def replies(*responses: httpx.Response) -> Any:
    queue = list(responses)
    return lambda _request: queue.pop(0)


async def outcomes(gateway: Gateway, count: int) -> list[str]:
    events = await gateway.wait_for_events(count)
    return [event["outcome"] for event in events]


async def test_granted_burst_retries_once_and_answers_200(gateway: Gateway) -> None:
    gateway.tenant.burst_replies = [burst_answer("granted", daily_cap_usd_cents=2000)]
    gateway.saturn.reply = replies(
        daily_denial(),
        ok_reply(spent_today_usd_micros=10_020_000, daily_cap_usd_micros=BURST_CAP),
    )

    resp = await gateway.reason(headers={"Idempotency-Key": "order-7"})

    assert resp.status_code == 200, resp.text
    budget = resp.json()["budget"]
    assert (budget["daily_cap_usd_cents"], budget["remaining_usd_micros"]) == (2000, 9_980_000)
    assert gateway.tenant.burst_calls == ["cus_a"]
    assert f"Bearer {SERVICE_TOKEN}" in gateway.tenant.service_tokens_seen
    assert len(gateway.saturn.requests) == 2
    # The same request again, under the same key (see CopilotService.reason for why).
    assert [r.headers["idempotency-key"] for r in gateway.saturn.requests] == ["order-7"] * 2
    assert gateway.saturn.bodies()[0] == gateway.saturn.bodies()[1]
    assert await outcomes(gateway, 1) == ["ok"]


async def test_retry_without_a_key_sends_none(gateway: Gateway) -> None:
    gateway.tenant.burst_replies = [burst_answer("already_granted_today")]
    gateway.saturn.reply = replies(daily_denial(), ok_reply())
    assert (await gateway.reason()).status_code == 200
    assert ["idempotency-key" in r.headers for r in gateway.saturn.requests] == [False, False]


async def test_granted_but_refused_again_is_429_with_the_raised_cap(gateway: Gateway) -> None:
    gateway.tenant.burst_replies = [burst_answer("granted", daily_cap_usd_cents=2000)]
    gateway.saturn.reply = replies(daily_denial(), daily_denial(BURST_CAP))

    resp = await gateway.reason()

    assert resp.status_code == 429, resp.text
    error = resp.json()["error"]
    assert error["code"] == "daily_limit_reached"
    assert error["daily_cap_usd_cents"] == 2000
    assert len(gateway.saturn.requests) == 2  # retried once, not more
    assert await outcomes(gateway, 1) == ["daily_limit"]

    # Refused at the raised cap later today: final, without asking tenant-api again.
    gateway.saturn.reply = daily_denial(BURST_CAP)
    assert (await gateway.reason()).status_code == 429
    assert gateway.tenant.burst_calls == ["cus_a"]
    assert len(gateway.saturn.requests) == 3


async def test_refusal_that_raced_the_grant_is_retried_without_asking(gateway: Gateway) -> None:
    gateway.tenant.burst_replies = [burst_answer("granted", daily_cap_usd_cents=2000)]
    gateway.saturn.reply = replies(daily_denial(), ok_reply(), daily_denial(BASE_CAP), ok_reply())
    assert (await gateway.reason()).status_code == 200
    # Refused under the old cap (it was in flight when the cap went up): one retry.
    assert (await gateway.reason()).status_code == 200
    assert gateway.tenant.burst_calls == ["cus_a"]
    assert len(gateway.saturn.requests) == 4


async def test_real_server_without_figures_after_a_grant(gateway: Gateway) -> None:
    gateway.tenant.burst_replies = [burst_answer("granted", daily_cap_usd_cents=2000)]
    gateway.saturn.reply = replies(daily_denial(None), ok_reply(), daily_denial(None))
    resp = await gateway.reason()
    assert resp.status_code == 200
    assert resp.json()["budget"]["daily_cap_usd_cents"] == 2000  # the grant's cap
    resp = await gateway.reason()
    assert resp.status_code == 429
    assert resp.json()["error"]["daily_cap_usd_cents"] == 2000
    assert gateway.tenant.burst_calls == ["cus_a"]
    assert len(gateway.saturn.requests) == 3


@pytest.mark.parametrize(
    "reason", ["no_burst_allowance", "burst_days_used_up", "customer_inactive"]
)
async def test_not_granted_is_429_and_asked_once_a_day(gateway: Gateway, reason: str) -> None:
    gateway.tenant.burst_replies = [burst_answer(reason)]
    gateway.saturn.reply = daily_denial()

    statuses = [(await gateway.reason()).status_code for _ in range(20)]

    assert statuses == [429] * 20
    assert gateway.tenant.burst_calls == ["cus_a"]
    assert len(gateway.saturn.requests) == 20  # never a retry
    assert await outcomes(gateway, 20) == ["daily_limit"] * 20
    # Another customer is asked on their own.
    gateway.tenant.burst_replies = [burst_answer(reason)]
    assert (await gateway.reason("cus_b")).status_code == 429
    assert gateway.tenant.burst_calls == ["cus_a", "cus_b"]


async def test_a_plan_change_asks_again(make_gateway: GatewayFactory) -> None:
    gateway: Gateway = await make_gateway(gateway_resolve_cache_seconds=0)
    gateway.saturn.reply = daily_denial()
    assert (await gateway.reason()).status_code == 429  # default answer: no_burst_allowance
    assert (await gateway.reason()).status_code == 429
    assert gateway.tenant.burst_calls == ["cus_a"]

    gateway.tenant.customers["cus_a"]["plan"] = "enterprise"
    gateway.tenant.burst_replies = [burst_answer("granted")]
    gateway.saturn.reply = replies(daily_denial(), ok_reply())
    assert (await gateway.reason()).status_code == 200
    assert gateway.tenant.burst_calls == ["cus_a", "cus_a"]


async def test_resolution_without_burst_days_skips_the_request(gateway: Gateway) -> None:
    gateway.tenant.add("cus_c", burst_days_per_month=0)
    gateway.saturn.reply = daily_denial()
    assert (await gateway.reason("cus_c")).status_code == 429
    assert gateway.tenant.burst_calls == []


async def test_per_call_refusal_never_asks_for_a_burst(gateway: Gateway) -> None:
    gateway.saturn.reply = saturn_error(403, "POLICY_DENIED", "per_call_limit_exceeded")
    assert (await gateway.reason()).status_code == 402
    assert gateway.tenant.burst_calls == []


BURST_FAILURES: dict[str, Any] = {
    "503 saturn_unavailable": httpx.Response(
        503,
        json={"error": {"type": "x", "code": "saturn_unavailable", "message": "Saturn down"}},
    ),
    "503 saturn_refused": httpx.Response(
        503, json={"error": {"type": "x", "code": "saturn_refused", "message": "refused"}}
    ),
    "404": httpx.Response(404, json={"error": {"code": "customer_not_found", "message": "no"}}),
    "unreadable": httpx.Response(200, json={"granted": "maybe"}),
    "connection refused": httpx.ConnectError("refused"),
    "unexpected": RuntimeError("boom"),
}


@pytest.mark.parametrize("failure", list(BURST_FAILURES), ids=list(BURST_FAILURES))
async def test_burst_route_failure_is_the_normal_429(gateway: Gateway, failure: str) -> None:
    gateway.tenant.burst_replies = [BURST_FAILURES[failure]]
    gateway.saturn.reply = daily_denial()

    resp = await gateway.reason()

    assert resp.status_code == 429, resp.text
    assert resp.json()["error"]["daily_cap_usd_cents"] == 1000
    assert len(gateway.saturn.requests) == 1
    assert await outcomes(gateway, 1) == ["daily_limit"]


async def test_burst_route_timeout_is_429_and_backs_off(make_gateway: GatewayFactory) -> None:
    gateway: Gateway = await make_gateway(
        gateway_burst_timeout_seconds=0.05, gateway_burst_failure_backoff_seconds=0.3
    )
    gateway.tenant.burst_delay = 1.0
    gateway.saturn.reply = daily_denial()

    started = asyncio.get_running_loop().time()
    first = await gateway.reason()
    assert first.status_code == 429
    assert asyncio.get_running_loop().time() - started < 0.5
    # Within the back-off the route is not asked again; after it, it is.
    assert (await gateway.reason()).status_code == 429
    assert gateway.tenant.burst_calls == ["cus_a"]
    await asyncio.sleep(0.35)
    gateway.tenant.burst_delay = 0
    gateway.tenant.burst_replies = [burst_answer("granted")]
    gateway.saturn.reply = replies(daily_denial(), ok_reply())
    assert (await gateway.reason()).status_code == 200
    assert gateway.tenant.burst_calls == ["cus_a", "cus_a"]


async def test_retry_failing_otherwise_is_still_429(gateway: Gateway) -> None:
    gateway.tenant.burst_replies = [burst_answer("granted")]
    gateway.saturn.reply = replies(
        daily_denial(), saturn_error(502, "UPSTREAM_ERROR", "model down")
    )
    resp = await gateway.reason()
    assert resp.status_code == 429
    assert resp.json()["error"]["daily_cap_usd_cents"] == 1000  # the original refusal
    assert await outcomes(gateway, 1) == ["daily_limit"]


async def test_concurrent_refusals_share_one_burst_request(gateway: Gateway) -> None:
    raised = False

    def raise_cap(_customer_id: str) -> None:
        nonlocal raised
        raised = True

    gateway.tenant.on_burst = raise_cap
    gateway.tenant.burst_delay = 0.1
    gateway.tenant.burst_replies = [burst_answer("granted")]
    gateway.saturn.reply = lambda _r: ok_reply(audit_id=None) if raised else daily_denial()

    responses = await asyncio.gather(*(gateway.reason() for _ in range(10)))

    assert [r.status_code for r in responses] == [200] * 10
    assert gateway.tenant.burst_calls == ["cus_a"]
    assert len(gateway.saturn.requests) == 20  # each refused once, retried once
    assert sorted(await outcomes(gateway, 10)) == ["ok"] * 10


# -- the cache across days, with an injected clock ---------------------------------------------


def credentials(plan: str = "pro") -> AgentCredentials:
    return AgentCredentials(
        customer_id="cus_a",
        status="active",
        plan=plan,
        agent_api_key=SecretStr("sk_agt_" + "0" * 64),
        daily_cap_usd_cents=1000,
    )


async def test_a_no_is_remembered_until_the_utc_day_ends() -> None:
    fake = FakeTenantApi(respx.MockRouter(base_url=TENANT_URL))
    fake.install()
    fake.add("cus_a")
    client = TenantApiClient(
        base_url=TENANT_URL,
        service_token=SecretStr(SERVICE_TOKEN),
        transport=httpx.MockTransport(fake.router.async_handler),
    )
    day = date(2026, 3, 31)
    burst = BurstAllowance(tenant_api=client, timeout_seconds=1.0, today=lambda: day)
    try:
        fake.burst_replies = [burst_answer("burst_days_used_up")]
        for _ in range(3):
            assert (
                await burst.after_daily_limit(credentials(), refused_at_cap_usd_micros=None) is None
            )
        assert fake.burst_calls == ["cus_a"]

        day += timedelta(days=1)  # a new month: burst days are back
        fake.burst_replies = [burst_answer("granted", daily_cap_usd_cents=2000)]
        assert (
            await burst.after_daily_limit(credentials(), refused_at_cap_usd_micros=BASE_CAP) == 2000
        )
        assert burst.raised_cap(credentials()) == 2000
        assert burst.raised_cap(credentials("enterprise")) is None
        assert fake.burst_calls == ["cus_a", "cus_a"]
    finally:
        await burst.aclose()
        await client.aclose()
