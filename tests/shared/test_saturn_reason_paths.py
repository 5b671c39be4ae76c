"""``SaturnClient.reason`` over real HTTP: the direct aiohttp path and the httpx path agree.

The direct path is what production uses (no ``transport=``); the httpx path is what every
other call and every respx test uses. Both run here against the same local aiohttp server,
answer by answer, and must give the same result or the same typed error.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from httpx_aiohttp import AiohttpTransport

from copilot_kit.saturn import (
    ReasonRequest,
    ReasonResult,
    SaturnClient,
    SaturnConnectionError,
    SaturnDailyLimitExceeded,
    SaturnError,
    SaturnPerCallLimitExceeded,
    SaturnServerError,
    SaturnTimeout,
)

from .conftest import AGENT_KEY, PRIMARY_KEY

PATHS = ["direct", "httpx"]

RECEIPT = {
    "X-Saturn-Audit-Id": "aud_01JN3Z8Q6Y5W4V3T2S1R0P9N8X",
    "X-Saturn-Quoted-Sats": "4210",
    "X-Saturn-Charged-Sats": "16",
    "X-Saturn-Quoted-Usd-Cents": "400",
    "X-Saturn-Charged-Usd-Cents": "2",
    "X-Saturn-Capability": "reason",
    "X-Saturn-Provider": "offline",
    "X-Saturn-Quoted-Usd-Micros": "4000000",
    "X-Saturn-Charged-Usd-Micros": "12345",
    "X-Saturn-Spent-Today-Usd-Micros": "2480000",
    "X-Saturn-Daily-Cap-Usd-Micros": "10000000",
}
ANSWER_BODY = {
    "content": "Paris.",
    "model": "offline-1",
    "usage": {"inputTokens": 12, "outputTokens": 3, "totalTokens": 15},
}


@dataclass
class Answer:
    status: int
    body: Any = None  # JSON-encoded unless bytes
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Seen:
    requests: list[dict[str, Any]] = field(default_factory=list)
    peers: set[Any] = field(default_factory=set)


def envelope(code: str, message: str, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error}


ANSWERS: dict[str, Answer] = {
    "success": Answer(200, ANSWER_BODY, RECEIPT),
    "success_replay_garbled_headers": Answer(
        200,
        {"content": None, "model": "m"},
        {"X-Saturn-Idempotent-Replay": "true", "X-Saturn-Charged-Sats": "lots"},
    ),
    "daily_cap_saturn_local": Answer(
        403,
        envelope(
            "POLICY_DENIED",
            "daily_limit_exceeded",
            {
                "reason": "daily_limit_exceeded",
                "spentUsdMicros": 9_990_000,
                "heldUsdMicros": 0,
                "capUsdMicros": 10_000_000,
                "quoteUsdMicros": 20_000,
                "resetsAt": "2030-01-02T00:00:00Z",
            },
        ),
    ),
    "daily_cap_real_server": Answer(403, envelope("POLICY_DENIED", "daily_limit_exceeded")),
    "budget_exceeded_documented": Answer(
        403, envelope("BUDGET_EXCEEDED", "over", {"dailySpent": 490, "dailyCap": 500})
    ),
    "per_call_cap": Answer(
        403,
        envelope(
            "POLICY_DENIED",
            "per_call_limit_exceeded",
            {"capUsdMicros": 250_000, "quoteUsdMicros": 400_000},
        ),
    ),
    "suspended": Answer(401, envelope("UNAUTHORIZED", "agent suspended")),
    "no_credits": Answer(402, envelope("INSUFFICIENT_BALANCE", "top up")),
    "rate_limited": Answer(429, envelope("RATE_LIMITED", "slow down"), {"Retry-After": "3"}),
    "server_error_envelope": Answer(500, envelope("INTERNAL_ERROR", "boom")),
    "proxy_page_503": Answer(503, b"<html>Service Unavailable</html>"),
    "success_without_content": Answer(200, {"model": "m"}),
    "success_not_json": Answer(200, b"not json"),
    "success_wrong_shape": Answer(200, {"content": "x", "usage": {"inputTokens": "many"}}),
}


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, dict[str, Answer], Seen]]:
    """A local Saturn whose next answer the test sets in ``answers["next"]``."""
    answers: dict[str, Answer] = {}
    seen = Seen()

    async def handle(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        seen.requests.append(
            {
                "authorization": request.headers.get("Authorization"),
                "idempotency_key": request.headers.get("Idempotency-Key"),
                "content_type": request.headers.get("Content-Type"),
                "cookie": request.headers.get("Cookie"),
                "body": json.loads(raw),
            }
        )
        if request.transport is not None:
            seen.peers.add(request.transport.get_extra_info("peername"))
        answer = answers["next"]
        if answer.delay:
            await asyncio.sleep(answer.delay)
        body = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
        response = web.Response(status=answer.status, body=body, headers=answer.headers)
        response.content_type = "application/json"
        response.set_cookie("session", "from-saturn")
        return response

    app = web.Application()
    app.router.add_post("/v1/capabilities/reason", handle)
    async with TestServer(app, host="127.0.0.1") as test_server:
        yield str(test_server.make_url("")).rstrip("/"), answers, seen


def make_client(path: str, base_url: str, **kwargs: Any) -> SaturnClient:
    # The httpx path with a real transport: the same sockets, httpx's machinery on top.
    transport = AiohttpTransport() if path == "httpx" else None
    return SaturnClient(base_url=base_url, api_key=PRIMARY_KEY, transport=transport, **kwargs)


def outcome(result: ReasonResult | SaturnError) -> Any:
    """Everything a caller can observe of a result or an error."""
    if isinstance(result, ReasonResult):
        return ("result", result.model_dump())
    return ("error", type(result), result.message, vars(result))


async def reason_outcome(client: SaturnClient) -> ReasonResult | SaturnError:
    try:
        return await client.reason(
            ReasonRequest(prompt="Capital of France? é", max_tokens=16),
            api_key=AGENT_KEY,
            idempotency_key="req-1",
        )
    except SaturnError as exc:
        return exc


@pytest.mark.parametrize("name", sorted(ANSWERS))
async def test_both_paths_give_identical_results(
    server: tuple[str, dict[str, Answer], Seen], name: str
) -> None:
    base_url, answers, seen = server
    answers["next"] = ANSWERS[name]
    outcomes = []
    for path in PATHS:
        async with make_client(path, base_url) as client:
            outcomes.append(outcome(await reason_outcome(client)))
    assert outcomes[0] == outcomes[1]
    # Both sent the same request.
    assert len(seen.requests) == 2
    first, second = seen.requests
    assert first == second
    assert first["authorization"] == f"Bearer {AGENT_KEY}"
    assert first["idempotency_key"] == "req-1"
    assert first["content_type"] == "application/json"
    assert first["body"] == {"prompt": "Capital of France? é", "max_tokens": 16}


@pytest.mark.parametrize("path", PATHS)
async def test_success_parses_body_and_receipt(
    server: tuple[str, dict[str, Answer], Seen], path: str
) -> None:
    base_url, answers, _ = server
    answers["next"] = ANSWERS["success"]
    async with make_client(path, base_url) as client:
        result = await client.reason(ReasonRequest(prompt="hi"), api_key=AGENT_KEY)
    assert (result.content, result.model) == ("Paris.", "offline-1")
    assert (result.usage.input_tokens, result.usage.output_tokens) == (12, 3)
    receipt = result.receipt
    assert receipt.audit_id == "aud_01JN3Z8Q6Y5W4V3T2S1R0P9N8X"
    assert (receipt.quoted_usd_micros, receipt.charged_usd_micros) == (4_000_000, 12_345)
    assert receipt.cost_usd_micros == 12_345
    assert (receipt.spent_today_usd_micros, receipt.daily_cap_usd_micros) == (
        2_480_000,
        10_000_000,
    )
    assert receipt.idempotent_replay is False


@pytest.mark.parametrize("path", PATHS)
async def test_cap_denials_are_typed_with_figures(
    server: tuple[str, dict[str, Answer], Seen], path: str
) -> None:
    base_url, answers, _ = server
    async with make_client(path, base_url) as client:
        answers["next"] = ANSWERS["daily_cap_saturn_local"]
        with pytest.raises(SaturnDailyLimitExceeded) as daily:
            await client.reason(ReasonRequest(prompt="hi"), api_key=AGENT_KEY)
        answers["next"] = ANSWERS["per_call_cap"]
        with pytest.raises(SaturnPerCallLimitExceeded) as per_call:
            await client.reason(ReasonRequest(prompt="hi"), api_key=AGENT_KEY)
    assert (daily.value.status, daily.value.spent_usd_micros) == (403, 9_990_000)
    assert daily.value.cap_usd_micros == 10_000_000
    assert per_call.value.quote_usd_micros == 400_000


@pytest.mark.parametrize("path", PATHS)
async def test_5xx_is_a_server_error(
    server: tuple[str, dict[str, Answer], Seen], path: str
) -> None:
    base_url, answers, _ = server
    answers["next"] = ANSWERS["proxy_page_503"]
    async with make_client(path, base_url) as client:
        with pytest.raises(SaturnServerError) as info:
            await client.reason(ReasonRequest(prompt="hi"), api_key=AGENT_KEY)
    assert info.value.status == 503
    assert "Service Unavailable" in info.value.message


@pytest.mark.parametrize("path", PATHS)
async def test_a_stalled_answer_times_out_within_the_bound(
    server: tuple[str, dict[str, Answer], Seen], path: str
) -> None:
    base_url, answers, _ = server
    answers["next"] = Answer(200, ANSWER_BODY, delay=2.0)
    async with make_client(path, base_url, timeout=10.0, connect_timeout=0.2) as client:
        started = time.monotonic()
        with pytest.raises(SaturnTimeout) as info:
            await client.reason(ReasonRequest(prompt="hi"), api_key=AGENT_KEY, timeout=0.1)
    assert time.monotonic() - started < 1.5
    assert info.value.code == "TIMEOUT"
    assert isinstance(info.value.__cause__, Exception)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("path", PATHS)
async def test_connection_refused_is_a_connection_error(path: str) -> None:
    async with make_client(path, f"http://127.0.0.1:{_closed_port()}") as client:
        with pytest.raises(SaturnConnectionError) as info:
            await client.reason(ReasonRequest(prompt="hi"), api_key=AGENT_KEY)
    assert info.value.code == "CONNECTION_ERROR"
    assert isinstance(info.value.__cause__, Exception)


async def test_direct_path_keeps_one_connection_alive_and_carries_no_cookies(
    server: tuple[str, dict[str, Answer], Seen],
) -> None:
    base_url, answers, seen = server
    answers["next"] = ANSWERS["success"]
    async with make_client("direct", base_url) as client:
        for _ in range(5):
            await client.reason(ReasonRequest(prompt="hi"), api_key=AGENT_KEY)
    assert len(seen.requests) == 5
    assert len(seen.peers) == 1  # sequential calls reuse the pooled connection
    # The server set a cookie every time; one customer's answer never leaks into the next call.
    assert [r["cookie"] for r in seen.requests] == [None] * 5


async def test_closed_client_refuses_further_calls(
    server: tuple[str, dict[str, Answer], Seen],
) -> None:
    base_url, answers, _ = server
    answers["next"] = ANSWERS["success"]
    client = make_client("direct", base_url)
    await client.reason(ReasonRequest(prompt="hi"), api_key=AGENT_KEY)
    await client.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await client.reason(ReasonRequest(prompt="hi"), api_key=AGENT_KEY)
