"""Customer → agent resolution: cached a few seconds, one in-flight lookup per customer."""

from __future__ import annotations

import asyncio

import httpx

from .conftest import Gateway, GatewayFactory, agent_key


async def test_fifty_concurrent_requests_make_one_lookup(gateway: Gateway) -> None:
    gateway.tenant.lookup_delay = 0.05  # all 50 arrive while the first lookup is in flight

    responses = await asyncio.gather(*(gateway.reason("cus_a") for _ in range(50)))

    assert [r.status_code for r in responses] == [200] * 50
    assert gateway.tenant.lookups == ["cus_a"]
    assert gateway.saturn.keys_used() == [agent_key("cus_a")] * 50


async def test_concurrent_customers_each_get_one_lookup(gateway: Gateway) -> None:
    gateway.tenant.lookup_delay = 0.05

    await asyncio.gather(*(gateway.reason(c) for c in ["cus_a", "cus_b"] * 10))

    assert sorted(gateway.tenant.lookups) == ["cus_a", "cus_b"]


async def test_a_waiter_going_away_does_not_cancel_the_shared_lookup(gateway: Gateway) -> None:
    gateway.tenant.lookup_delay = 0.1
    first = asyncio.create_task(gateway.reason("cus_a"))
    await asyncio.sleep(0.02)
    second = asyncio.create_task(gateway.reason("cus_a"))
    await asyncio.sleep(0.02)
    first.cancel()

    resp = await second

    assert resp.status_code == 200
    assert gateway.tenant.lookups == ["cus_a"]


async def test_cache_entry_expires_after_the_ttl(make_gateway: GatewayFactory) -> None:
    gateway: Gateway = await make_gateway(gateway_resolve_cache_seconds=0.2)

    await gateway.reason("cus_a")
    await gateway.reason("cus_a")
    assert gateway.tenant.lookups == ["cus_a"]

    await asyncio.sleep(0.25)
    await gateway.reason("cus_a")
    assert gateway.tenant.lookups == ["cus_a", "cus_a"]


async def test_churned_customer_is_refused_within_the_ttl(make_gateway: GatewayFactory) -> None:
    gateway: Gateway = await make_gateway(gateway_resolve_cache_seconds=0.2)
    assert (await gateway.reason("cus_a")).status_code == 200

    gateway.tenant.churn("cus_a")
    await asyncio.sleep(0.25)
    resp = await gateway.reason("cus_a")

    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "customer_inactive"
    assert len(gateway.saturn.requests) == 1


async def test_churned_customer_is_403_and_cached(gateway: Gateway) -> None:
    gateway.tenant.churn("cus_a")

    responses = [await gateway.reason("cus_a") for _ in range(3)]

    assert {r.status_code for r in responses} == {403}
    assert responses[0].json()["error"]["type"] == "permission_error"
    assert gateway.tenant.lookups == ["cus_a"]
    assert gateway.saturn.requests == []


async def test_unknown_customer_is_401(gateway: Gateway) -> None:
    resp = await gateway.reason("cus_nobody")

    assert resp.status_code == 401
    assert gateway.saturn.requests == []


async def test_tenant_api_down_is_503_and_not_cached(gateway: Gateway) -> None:
    gateway.tenant.agent_failures = [
        httpx.Response(503, json={"error": {"code": "x", "message": "down"}}),
        httpx.Response(503, json={"error": {"code": "x", "message": "down"}}),  # the one retry
    ]
    down = await gateway.reason("cus_a")
    assert down.status_code == 503
    assert down.json()["error"]["code"] == "ai_unavailable"

    up = await gateway.reason("cus_a")

    assert up.status_code == 200
    assert gateway.tenant.lookups == ["cus_a"] * 3


async def test_tenant_api_unreachable_is_503(gateway: Gateway) -> None:
    gateway.tenant.agent_failures = [httpx.ConnectError("refused")] * 2

    resp = await gateway.reason("cus_a")

    assert resp.status_code == 503
    assert resp.json()["error"]["code"] == "ai_unavailable"


async def test_garbled_tenant_api_answer_is_503_not_500(gateway: Gateway) -> None:
    gateway.tenant.agent_failures = [httpx.Response(200, json={"unexpected": True})]

    resp = await gateway.reason("cus_a")

    assert resp.status_code == 503
