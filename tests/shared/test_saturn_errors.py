"""Every Saturn failure mapped to its typed error; retries only where they are safe."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from copilot_kit.saturn import (
    ReasonRequest,
    SaturnAuthError,
    SaturnBudgetExceeded,
    SaturnClient,
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
    SaturnUpstreamError,
    SaturnValidationError,
)

from .conftest import AGENT_ID, AGENT_KEY, BASE_URL, PRIMARY_KEY, agent_json


def envelope(code: str, message: str, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error}


ERROR_CASES = [
    pytest.param(
        400, envelope("VALIDATION_ERROR", "Invalid body"), SaturnValidationError, id="400"
    ),
    pytest.param(401, envelope("UNAUTHORIZED", "Invalid API key"), SaturnAuthError, id="401"),
    pytest.param(
        401, envelope("UNAUTHORIZED", "Agent is suspended"), SaturnAuthError, id="401-suspended"
    ),
    pytest.param(
        402,
        envelope("INSUFFICIENT_BALANCE", "need 4 sats, have 1 sats"),
        SaturnInsufficientBalance,
        id="402-balance",
    ),
    pytest.param(
        402,
        envelope("CREDIT_EXHAUSTED", "out", {"balance": 0, "quotedCost": 4}),
        SaturnInsufficientBalance,
        id="402-credit-docs",
    ),
    pytest.param(
        402,
        envelope("BUDGET_EXCEEDED", "cap", {"dailySpent": 498, "dailyCap": 500, "quotedCost": 4}),
        SaturnDailyLimitExceeded,
        id="402-budget-docs",
    ),
    pytest.param(
        403,
        envelope("POLICY_DENIED", "daily_limit_exceeded"),
        SaturnDailyLimitExceeded,
        id="403-daily",
    ),
    pytest.param(
        403,
        envelope("POLICY_DENIED", "per_call_limit_exceeded"),
        SaturnPerCallLimitExceeded,
        id="403-per-call",
    ),
    pytest.param(
        403,
        envelope("POLICY_DENIED", "kill_switch_active"),
        SaturnKillSwitchActive,
        id="403-kill",
    ),
    pytest.param(
        403, envelope("POLICY_DENIED", "service_denied"), SaturnPolicyDenied, id="403-other"
    ),
    pytest.param(
        403, envelope("AGENT_KILLED", "Agent killed"), SaturnKillSwitchActive, id="403-killed"
    ),
    pytest.param(
        403,
        envelope("CAPABILITY_DENIED", "no", {"capability": "reason"}),
        SaturnPolicyDenied,
        id="403-capability",
    ),
    pytest.param(404, envelope("NOT_FOUND", "Agent not found"), SaturnNotFound, id="404"),
    pytest.param(404, envelope("NOT_AVAILABLE", "Stripe off"), SaturnNotFound, id="404-na"),
    pytest.param(
        422,
        envelope("IDEMPOTENCY_KEY_REUSED", "different body"),
        SaturnIdempotencyConflict,
        id="422-idem",
    ),
    pytest.param(409, envelope("SOMETHING_NEW", "eh"), SaturnRequestError, id="4xx-unknown"),
    pytest.param(502, envelope("UPSTREAM_ERROR", "openai down"), SaturnUpstreamError, id="502"),
    pytest.param(502, envelope("PROVIDER_ERROR", "provider"), SaturnUpstreamError, id="502-docs"),
    pytest.param(500, envelope("INTERNAL_ERROR", "boom"), SaturnServerError, id="500"),
    pytest.param(503, envelope("PROVIDER_UNAVAILABLE", "later"), SaturnServerError, id="503-docs"),
    pytest.param(503, "<html>Service Unavailable</html>", SaturnServerError, id="503-html"),
    pytest.param(429, "Too many requests, please try again later.", SaturnRateLimited, id="429"),
]


@pytest.mark.parametrize(("status", "body", "expected"), ERROR_CASES)
async def test_reason_errors_map_to_typed_exceptions(
    saturn: SaturnClient,
    router: respx.Router,
    status: int,
    body: dict[str, Any] | str,
    expected: type[SaturnError],
) -> None:
    kwargs: dict[str, Any] = {"json": body} if isinstance(body, dict) else {"text": body}
    route = router.post("/v1/capabilities/reason").respond(status, **kwargs)

    with pytest.raises(expected) as info:
        await saturn.reason(ReasonRequest(prompt="hi"), api_key=AGENT_KEY)

    error = info.value
    assert type(error) is expected
    assert error.status == status
    assert error.message
    if isinstance(body, dict):
        assert error.code == body["error"]["code"]
        assert error.details == body["error"].get("details")
    else:
        assert error.code == "UNKNOWN"
    # Never retried, whatever the failure: a retry would charge again.
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("daily_limit_exceeded", "daily_limit_exceeded"),
        ("kill_switch_active", "kill_switch_active"),
        ("service_not_allowed", "service_not_allowed"),
        ("Primary agent key required", "Primary agent key required"),
    ],
)
async def test_policy_denied_carries_the_reason(
    saturn: SaturnClient, router: respx.Router, message: str, reason: str
) -> None:
    router.get("/v1/agents").respond(403, json=envelope("POLICY_DENIED", message))
    with pytest.raises(SaturnPolicyDenied) as info:
        await saturn.list_agents()
    assert info.value.reason == reason


async def test_real_server_budget_denial_has_no_figures(
    saturn: SaturnClient, router: respx.Router
) -> None:
    router.post("/v1/capabilities/reason").respond(
        403, json=envelope("POLICY_DENIED", "daily_limit_exceeded")
    )
    with pytest.raises(SaturnBudgetExceeded) as info:
        await saturn.reason(ReasonRequest(prompt="hi"), api_key=AGENT_KEY)
    assert info.value.cap_usd_micros is None
    assert info.value.resets_at is None


async def test_saturn_local_budget_denial_fills_the_figures(
    saturn: SaturnClient, router: respx.Router
) -> None:
    details = {
        "spentUsdMicros": 4_990_000,
        "heldUsdMicros": 8_000,
        "capUsdMicros": 5_000_000,
        "quoteUsdMicros": 40_000,
        "resetsAt": "2026-03-03T00:00:00Z",
    }
    router.post("/v1/capabilities/reason").respond(
        403, json=envelope("POLICY_DENIED", "daily_limit_exceeded", details)
    )
    with pytest.raises(SaturnDailyLimitExceeded) as info:
        await saturn.reason(ReasonRequest(prompt="hi"), api_key=AGENT_KEY)
    error = info.value
    assert error.reason == "daily_limit_exceeded"
    assert (error.spent_usd_micros, error.held_usd_micros) == (4_990_000, 8_000)
    assert (error.cap_usd_micros, error.quote_usd_micros) == (5_000_000, 40_000)
    assert error.resets_at == datetime(2026, 3, 3, tzinfo=UTC)


async def test_per_call_denial_from_saturn_local_with_garbled_details(
    saturn: SaturnClient, router: respx.Router
) -> None:
    details = {"capUsdMicros": "x", "quoteUsdMicros": 2_000_000, "resetsAt": "tomorrow"}
    router.post("/v1/capabilities/reason").respond(
        403, json=envelope("POLICY_DENIED", "per_call_limit_exceeded", details)
    )
    with pytest.raises(SaturnPerCallLimitExceeded) as info:
        await saturn.reason(ReasonRequest(prompt="hi"), api_key=AGENT_KEY)
    assert info.value.quote_usd_micros == 2_000_000
    assert info.value.cap_usd_micros is None
    assert info.value.resets_at is None


async def test_documented_budget_exceeded_converts_cents_to_micros(
    saturn: SaturnClient, router: respx.Router
) -> None:
    router.post("/v1/capabilities/reason").respond(
        402,
        json=envelope(
            "BUDGET_EXCEEDED", "cap", {"dailySpent": 498, "dailyCap": 500, "quotedCost": 4}
        ),
    )
    with pytest.raises(SaturnDailyLimitExceeded) as info:
        await saturn.reason(ReasonRequest(prompt="hi"), api_key=AGENT_KEY)
    error = info.value
    assert (error.spent_usd_micros, error.cap_usd_micros) == (4_980_000, 5_000_000)
    assert error.quote_usd_micros == 40_000
    assert error.reason == "daily_limit_exceeded"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "12"}, 12.0),
        ({"RateLimit-Reset": "7"}, 7.0),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
async def test_429_retry_after_parsing(
    saturn: SaturnClient, router: respx.Router, headers: dict[str, str], expected: float | None
) -> None:
    router.post("/v1/capabilities/reason").respond(
        429, text="Too many requests, please try again later.", headers=headers
    )
    with pytest.raises(SaturnRateLimited) as info:
        await saturn.reason(ReasonRequest(prompt="hi"), api_key=AGENT_KEY)
    assert info.value.retry_after_seconds == expected
    assert info.value.status == 429


async def test_429_retry_after_http_date(saturn: SaturnClient, router: respx.Router) -> None:
    router.get("/v1/agents").respond(
        429, text="slow down", headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}
    )
    with pytest.raises(SaturnRateLimited) as info:
        await saturn.list_agents()
    assert info.value.retry_after_seconds == 0.0  # a date in the past: no wait


# -- transport failures and retries -----------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ConnectTimeout("t"), SaturnTimeout),
        (httpx.ReadTimeout("t"), SaturnTimeout),
        (httpx.ConnectError("refused"), SaturnConnectionError),
        (httpx.RemoteProtocolError("reset"), SaturnConnectionError),
    ],
)
async def test_transport_failures_are_unavailable_and_chained(
    saturn: SaturnClient,
    router: respx.Router,
    exc: Exception,
    expected: type[SaturnError],
) -> None:
    route = router.post("/v1/capabilities/reason").mock(side_effect=exc)
    with pytest.raises(expected) as info:
        await saturn.reason(ReasonRequest(prompt="hi"), api_key=AGENT_KEY)
    assert isinstance(info.value, SaturnUnavailable)
    assert info.value.__cause__ is exc
    assert route.call_count == 1


async def test_get_retries_503_up_to_max_retries_with_capped_backoff(
    saturn: SaturnClient, router: respx.Router, sleeps: list[float]
) -> None:
    route = router.get(f"/v1/agents/{AGENT_ID}").respond(503, text="unavailable")
    with pytest.raises(SaturnServerError):
        await saturn.get_agent(AGENT_ID)
    assert route.call_count == 3  # 1 + max_retries
    assert sleeps == [0.05, 0.2]


async def test_get_recovers_after_a_timeout(
    saturn: SaturnClient, router: respx.Router, sleeps: list[float]
) -> None:
    route = router.get(f"/v1/agents/{AGENT_ID}")
    route.side_effect = [httpx.ReadTimeout("slow"), httpx.Response(200, json=agent_json())]
    agent = await saturn.get_agent(AGENT_ID)
    assert agent.id == AGENT_ID
    assert route.call_count == 2
    assert len(sleeps) == 1


async def test_backoff_is_capped(router: respx.Router, sleeps: list[float]) -> None:
    route = router.delete(f"/v1/agents/{AGENT_ID}").respond(
        500, json=envelope("INTERNAL_ERROR", "x")
    )
    async with SaturnClient(
        base_url=BASE_URL,
        api_key=PRIMARY_KEY,
        max_retries=4,
        transport=httpx.MockTransport(router.async_handler),
    ) as client:
        with pytest.raises(SaturnServerError):
            await client.delete_agent(AGENT_ID)
    assert route.call_count == 5
    assert sleeps == [0.05, 0.2, 0.8, 1.0]


async def test_idempotent_patches_are_retried(saturn: SaturnClient, router: respx.Router) -> None:
    policy = router.patch(f"/v1/agents/{AGENT_ID}/policy").respond(502, text="Bad Gateway")
    status = router.patch(f"/v1/agents/{AGENT_ID}").respond(502, text="Bad Gateway")
    with pytest.raises(SaturnUnavailable):
        await saturn.set_caps(AGENT_ID, max_per_call_usd_cents=1, max_per_day_usd_cents=2)
    with pytest.raises(SaturnUnavailable):
        await saturn.suspend_agent(AGENT_ID)
    assert (policy.call_count, status.call_count) == (3, 3)


async def test_get_retries_429_with_short_retry_after(
    saturn: SaturnClient, router: respx.Router, sleeps: list[float]
) -> None:
    route = router.get("/v1/agents")
    route.side_effect = [
        httpx.Response(429, text="Too many", headers={"Retry-After": "0.5"}),
        httpx.Response(200, json=[agent_json()]),
    ]
    assert len(await saturn.list_agents()) == 1
    assert sleeps == [0.5]


async def test_get_does_not_sit_out_a_long_retry_after(
    saturn: SaturnClient, router: respx.Router, sleeps: list[float]
) -> None:
    route = router.get("/v1/agents").respond(429, text="Too many", headers={"Retry-After": "30"})
    with pytest.raises(SaturnRateLimited) as info:
        await saturn.list_agents()
    assert info.value.retry_after_seconds == 30.0
    assert route.call_count == 1
    assert sleeps == []


async def test_4xx_is_never_retried(saturn: SaturnClient, router: respx.Router) -> None:
    route = router.get(f"/v1/agents/{AGENT_ID}").respond(
        404, json=envelope("NOT_FOUND", "Agent not found")
    )
    with pytest.raises(SaturnNotFound):
        await saturn.get_agent(AGENT_ID)
    assert route.call_count == 1


@pytest.mark.parametrize("failure", ["503", "timeout"])
async def test_create_and_regenerate_are_never_retried(
    saturn: SaturnClient, router: respx.Router, sleeps: list[float], failure: str
) -> None:
    outcome: Any = (
        httpx.Response(503, text="unavailable") if failure == "503" else httpx.ReadTimeout("t")
    )
    create = router.post("/v1/agents").mock(side_effect=[outcome, outcome])
    regen = router.post(f"/v1/agents/{AGENT_ID}/regenerate").mock(side_effect=[outcome])
    with pytest.raises(SaturnUnavailable):
        await saturn.create_agent("x")
    with pytest.raises(SaturnUnavailable):
        await saturn.regenerate_key(AGENT_ID)
    with pytest.raises(SaturnUnavailable):
        await saturn.create_agent_with_caps("x", max_per_call_usd_cents=1, max_per_day_usd_cents=2)
    assert (create.call_count, regen.call_count) == (2, 1)
    assert sleeps == []


async def test_total_timeout_bounds_a_stalled_answer(router: respx.Router) -> None:
    async def stall(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200, json={"content": "late"})

    router.post("/v1/capabilities/reason").mock(side_effect=stall)
    async with SaturnClient(
        base_url=BASE_URL,
        api_key=PRIMARY_KEY,
        timeout=0.05,
        connect_timeout=0.05,
        transport=httpx.MockTransport(router.async_handler),
    ) as client:
        started = time.monotonic()
        with pytest.raises(SaturnTimeout):
            await client.reason(ReasonRequest(prompt="hi"), api_key=AGENT_KEY)
    assert time.monotonic() - started < 1.0


async def test_error_message_never_echoes_the_key(
    saturn: SaturnClient, router: respx.Router
) -> None:
    router.post("/v1/capabilities/reason").respond(
        500, text=f"crash while handling Authorization: Bearer {AGENT_KEY}"
    )
    with pytest.raises(SaturnServerError) as info:
        await saturn.reason(ReasonRequest(prompt="hi"), api_key=AGENT_KEY)
    assert AGENT_KEY not in str(info.value)
    assert AGENT_KEY not in repr(info.value)
