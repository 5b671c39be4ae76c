"""Access tokens: verified locally; the token alone decides the customer (pitfalls.md A1)."""

from __future__ import annotations

import time

import pytest

from .conftest import Gateway, agent_key, token_for


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-token",
        f"Bearer {token_for('cus_a', secret='another-secret-entirely-0000')}",  # forged
        f"Bearer {token_for('cus_a', ttl_seconds=-5)}",  # expired
        f"Bearer adm{token_for('cus_a')[3:]}",  # another token type's prefix
        f"Bearer {token_for('cus_a')[:-4]}AAAA",  # tampered signature
        f"Bearer {token_for('cus_a')[:-2]}\u00e9\u00e9",  # non-ASCII signature
    ],
    ids=[
        "missing",
        "empty",
        "no-token",
        "basic",
        "garbage",
        "forged",
        "expired",
        "wrong-prefix",
        "tampered",
        "non-ascii",
    ],
)
async def test_bad_tokens_are_401_and_reach_nothing(
    gateway: Gateway, authorization: str | None
) -> None:
    # Bytes: httpx would refuse to encode a non-ASCII header value itself.
    headers = {} if authorization is None else {b"Authorization": authorization.encode("latin-1")}

    resp = await gateway.client.post("/v1/copilot/reason", json={"prompt": "hi"}, headers=headers)

    assert resp.status_code == 401, resp.text
    assert resp.json()["error"]["type"] == "authentication_error"
    assert gateway.saturn.requests == []
    assert gateway.tenant.lookups == []


async def test_usage_route_needs_a_token_too(gateway: Gateway) -> None:
    resp = await gateway.client.get("/v1/copilot/usage")

    assert resp.status_code == 401


async def test_token_that_just_expired_is_refused(gateway: Gateway) -> None:
    token = token_for("cus_a", ttl_seconds=1)
    time.sleep(1.05)  # noqa: ASYNC251 - the token's clock is wall time; no await needed

    resp = await gateway.client.post(
        "/v1/copilot/reason", json={"prompt": "hi"}, headers={"Authorization": f"Bearer {token}"}
    )

    assert resp.status_code == 401


async def test_ids_in_headers_and_query_never_change_the_customer(gateway: Gateway) -> None:
    """A1: A's token with B named everywhere else still runs on A's agent."""
    resp = await gateway.reason(
        "cus_a",
        headers={
            "X-Customer-Id": "cus_b",
            "X-Tenant-Id": "cus_b",
            "X-Agent-Key": agent_key("cus_b"),
        },
        params={"customer_id": "cus_b", "customer": "cus_b"},
    )

    assert resp.status_code == 200, resp.text
    assert gateway.saturn.keys_used() == [agent_key("cus_a")]
    assert gateway.tenant.lookups == ["cus_a"]
    assert resp.json()["budget"]["daily_cap_usd_cents"] == 1000  # A's plan, not B's (100)


async def test_customer_id_in_the_body_is_refused_not_obeyed(gateway: Gateway) -> None:
    resp = await gateway.reason("cus_a", body={"prompt": "hi", "customer_id": "cus_b"})

    assert resp.status_code == 422
    assert gateway.saturn.requests == []
    assert gateway.tenant.lookups == []


async def test_two_customers_each_use_their_own_agent_key(gateway: Gateway) -> None:
    await gateway.reason("cus_a")
    await gateway.reason("cus_b")
    await gateway.reason("cus_a")

    assert gateway.saturn.keys_used() == [
        agent_key("cus_a"),
        agent_key("cus_b"),
        agent_key("cus_a"),
    ]


async def test_tenant_api_is_called_with_the_service_token(gateway: Gateway) -> None:
    await gateway.reason("cus_a")

    assert gateway.tenant.service_tokens_seen == {"Bearer svc_test_service_token_0123456789"}
