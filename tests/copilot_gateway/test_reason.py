"""POST /v1/copilot/reason: every Saturn outcome and the customer-facing answer it becomes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx

from copilot_gateway.main import create_app

from .conftest import (
    TENANT_URL,
    FakeTenantApi,
    Gateway,
    agent_key,
    auth,
    make_settings,
    ok_reply,
    saturn_error,
)


def next_midnight() -> datetime:
    return (datetime.now(UTC) + timedelta(days=1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )


def assert_retry_after_matches(response: httpx.Response, resets_at: datetime) -> None:
    retry_after = int(response.headers["Retry-After"])
    expected = (resets_at - datetime.now(UTC)).total_seconds()
    assert abs(retry_after - expected) <= 2


async def test_success_returns_answer_cost_and_budget(gateway: Gateway) -> None:
    gateway.saturn.reply = ok_reply(content="Forty-two.", charged_usd_micros=1234)

    resp = await gateway.reason(body={"prompt": "What is it?"})

    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["id"] == "aud_01TEST"
    assert body["response"] == "Forty-two."
    assert body["model"] == "offline-1"
    assert body["usage"] == {"input_tokens": 12, "output_tokens": 7}
    assert body["cost_usd_micros"] == 1234
    budget = body["budget"]
    assert budget["daily_cap_usd_cents"] == 1000
    assert budget["spent_today_usd_micros"] >= 1234
    assert budget["remaining_usd_micros"] == 1000 * 10_000 - budget["spent_today_usd_micros"]
    assert datetime.fromisoformat(budget["resets_at"]) == next_midnight()
    assert budget["resets_at"].endswith("Z")
    # The outgoing call: this customer's agent key, and max_tokens always set.
    [sent] = gateway.saturn.requests
    assert sent.headers["authorization"] == f"Bearer {agent_key('cus_a')}"
    assert gateway.saturn.bodies() == [{"prompt": "What is it?", "max_tokens": 1024}]
    assert "idempotency-key" not in sent.headers


async def test_cost_falls_back_to_cents_without_the_micros_header(gateway: Gateway) -> None:
    gateway.saturn.reply = ok_reply(charged_usd_micros=None, charged_usd_cents=3)

    resp = await gateway.reason()

    assert resp.status_code == 200
    assert resp.json()["cost_usd_micros"] == 30_000


async def test_spent_today_accumulates_over_calls(gateway: Gateway) -> None:
    gateway.saturn.reply = lambda _r: ok_reply(charged_usd_micros=500, audit_id=None)

    first = (await gateway.reason()).json()["budget"]["spent_today_usd_micros"]
    second = (await gateway.reason()).json()["budget"]["spent_today_usd_micros"]

    assert second == first + 500


async def test_messages_model_and_clamped_max_tokens_are_forwarded(gateway: Gateway) -> None:
    body = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ],
        "model": "gpt-4o-mini",
        "max_output_tokens": 1_000_000,
    }

    resp = await gateway.reason(body=body)

    assert resp.status_code == 200, resp.text
    assert gateway.saturn.bodies() == [
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
            ],
            "model": "gpt-4o-mini",
            "max_tokens": 4096,
        }
    ]


async def test_requested_max_output_tokens_below_the_cap_is_kept(gateway: Gateway) -> None:
    await gateway.reason(body={"prompt": "x", "max_output_tokens": 64})

    assert gateway.saturn.bodies()[0]["max_tokens"] == 64


async def test_idempotency_key_is_forwarded_unchanged(gateway: Gateway) -> None:
    resp = await gateway.reason(headers={"Idempotency-Key": "retry-123"})

    assert resp.status_code == 200
    assert gateway.saturn.requests[0].headers["idempotency-key"] == "retry-123"


async def test_invalid_idempotency_key_is_refused(gateway: Gateway) -> None:
    resp = await gateway.reason(headers={"Idempotency-Key": "x" * 256})

    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "invalid_idempotency_key"
    assert gateway.saturn.requests == []


async def test_idempotency_key_reused_with_another_body(gateway: Gateway) -> None:
    gateway.saturn.reply = saturn_error(422, "IDEMPOTENCY_KEY_REUSED", "key reused")

    resp = await gateway.reason(headers={"Idempotency-Key": "k1"})

    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "idempotency_key_reused"


DAILY_DENIALS: dict[str, Any] = {
    "real-server POLICY_DENIED": saturn_error(403, "POLICY_DENIED", "daily_limit_exceeded"),
    "documented BUDGET_EXCEEDED": saturn_error(
        402,
        "BUDGET_EXCEEDED",
        "Daily budget exceeded",
        {"dailySpent": 995, "dailyCap": 1000, "quotedCost": 10},
    ),
    "saturn-local details": saturn_error(
        403,
        "POLICY_DENIED",
        "daily_limit_exceeded",
        {
            "reason": "daily_limit_exceeded",
            "spentUsdMicros": 9_990_000,
            "heldUsdMicros": 5_000,
            "capUsdMicros": 10_000_000,
            "quoteUsdMicros": 20_000,
            "resetsAt": next_midnight().isoformat(),
        },
    ),
}


@pytest.mark.parametrize("denial", list(DAILY_DENIALS), ids=list(DAILY_DENIALS))
async def test_every_daily_denial_form_gives_the_same_429(gateway: Gateway, denial: str) -> None:
    gateway.saturn.reply = DAILY_DENIALS[denial]

    resp = await gateway.reason()

    assert resp.status_code == 429, resp.text
    error = resp.json()["error"]
    assert error["type"] == "limit_reached"
    assert error["code"] == "daily_limit_reached"
    assert error["message"] == "Daily AI limit reached. Resets at midnight UTC."
    assert error["plan"] == "pro"
    assert error["upgrade_url"] == "/pricing"
    assert error["daily_cap_usd_cents"] == 1000
    resets_at = datetime.fromisoformat(error["resets_at"])
    assert resets_at == next_midnight()
    assert_retry_after_matches(resp, resets_at)
    expected_spent = {
        "real-server POLICY_DENIED": 10_000_000,  # no figures: the cap it hit
        "documented BUDGET_EXCEEDED": 9_950_000,
        "saturn-local details": 9_990_000,
    }[denial]
    assert error["spent_today_usd_micros"] == expected_spent


async def test_per_call_limit_gives_402_with_plan_and_upgrade(gateway: Gateway) -> None:
    gateway.saturn.reply = saturn_error(403, "POLICY_DENIED", "per_call_limit_exceeded")

    resp = await gateway.reason("cus_b")

    assert resp.status_code == 402, resp.text
    error = resp.json()["error"]
    assert error["type"] == "limit_reached"
    assert error["code"] == "per_call_limit_exceeded"
    assert error["plan"] == "free"
    assert error["upgrade_url"] == "/pricing"
    assert error["per_call_cap_usd_cents"] == 25
    assert "Retry-After" not in resp.headers


async def test_out_of_credits_is_the_providers_problem_not_the_customers(
    gateway: Gateway,
) -> None:
    gateway.saturn.reply = saturn_error(402, "INSUFFICIENT_BALANCE", "need 5 sats, have 0 sats")

    resp = await gateway.reason()

    assert resp.status_code == 402
    error = resp.json()["error"]
    assert error["code"] == "credits_exhausted"
    assert error["type"] != "limit_reached"
    assert "not a limit of your plan" in error["message"]
    assert "upgrade_url" not in error


@pytest.mark.parametrize(
    "reply",
    [
        saturn_error(403, "POLICY_DENIED", "kill_switch_active"),
        saturn_error(403, "AGENT_KILLED", "Agent killed"),
        saturn_error(401, "UNAUTHORIZED", "Agent is suspended"),
    ],
    ids=["kill-switch", "agent-killed", "suspended"],
)
async def test_killed_or_suspended_agent_is_customer_inactive_and_drops_the_cache(
    gateway: Gateway, reply: httpx.Response
) -> None:
    gateway.saturn.reply = reply

    first = await gateway.reason()
    second = await gateway.reason()

    for resp in (first, second):
        assert resp.status_code == 403
        assert resp.json()["error"]["code"] == "customer_inactive"
    # The refusal forgot the cached credentials: the second request looked them up again.
    assert gateway.tenant.lookups == ["cus_a", "cus_a"]


@pytest.mark.parametrize(
    "reply",
    [
        saturn_error(502, "UPSTREAM_ERROR", "provider failed"),
        saturn_error(503, "PROVIDER_UNAVAILABLE", "down"),
        saturn_error(500, "INTERNAL_ERROR", "boom"),
        httpx.Response(502, text="<html>Bad gateway</html>"),
        saturn_error(429, "RATE_LIMIT", "slow down", **{"Retry-After": "30"}),
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("read timed out"),
        saturn_error(418, "TEAPOT", "odd"),
    ],
    ids=["502", "503", "500", "html-502", "rate-limited", "refused", "timeout", "unknown-4xx"],
)
async def test_saturn_failures_are_503_ai_unavailable(gateway: Gateway, reply: Any) -> None:
    gateway.saturn.reply = reply

    resp = await gateway.reason()

    assert resp.status_code == 503, resp.text
    assert resp.json()["error"]["code"] == "ai_unavailable"
    assert resp.json()["error"]["type"] == "service_unavailable"


async def test_rate_limited_saturn_passes_retry_after(gateway: Gateway) -> None:
    gateway.saturn.reply = saturn_error(429, "RATE_LIMIT", "slow down", **{"Retry-After": "30"})

    resp = await gateway.reason()

    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "30"


async def test_hung_saturn_gives_503_within_the_timeout(gateway: Gateway) -> None:
    gateway.saturn.delay = 30  # the settings allow 0.5 s + 0.2 s connect

    started = time.monotonic()
    resp = await gateway.reason()

    assert resp.status_code == 503
    assert resp.json()["error"]["code"] == "ai_unavailable"
    assert time.monotonic() - started < 2


async def test_saturn_failure_blocks_nobody_afterwards(gateway: Gateway) -> None:
    gateway.saturn.reply = httpx.ConnectError("refused")
    assert (await gateway.reason()).status_code == 503

    gateway.saturn.reply = None
    resp = await gateway.reason()

    assert resp.status_code == 200


async def test_unreachable_saturn_over_real_sockets_is_fast_503() -> None:
    """F5 with the real aiohttp transport: nothing listens on the port."""
    tenant = FakeTenantApi(respx.MockRouter(base_url=TENANT_URL, assert_all_called=False))
    tenant.install()
    tenant.add("cus_a")
    app = create_app(
        make_settings(
            saturn_base_url="http://127.0.0.1:9",
            gateway_saturn_timeout_seconds=30,
            gateway_saturn_connect_timeout_seconds=1,
        ),
        tenant_transport=httpx.MockTransport(tenant.router.async_handler),
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gw.test"
        ) as client,
    ):
        started = time.monotonic()
        resp = await client.post("/v1/copilot/reason", json={"prompt": "hi"}, headers=auth("cus_a"))
        elapsed = time.monotonic() - started

    assert resp.status_code == 503
    assert resp.json()["error"]["code"] == "ai_unavailable"
    assert elapsed < 2.5


async def test_saturn_validation_error_is_422(gateway: Gateway) -> None:
    gateway.saturn.reply = saturn_error(400, "VALIDATION_ERROR", "unknown model 'nope'")

    resp = await gateway.reason(body={"prompt": "x", "model": "nope"})

    assert resp.status_code == 422
    assert resp.json()["error"]["type"] == "invalid_request"
    assert "unknown model" in resp.json()["error"]["message"]


async def test_other_policy_denials_are_403_not_500(gateway: Gateway) -> None:
    gateway.saturn.reply = saturn_error(403, "POLICY_DENIED", "capability_denied")

    resp = await gateway.reason()

    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "ai_request_refused"
