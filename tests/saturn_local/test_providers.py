"""Provider adapters on the real OpenAI and Anthropic response shapes (respx), and the ledger
around them: 5xx / connection reset void the hold (F3); a reply without usage is charged the
hold and flagged."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx

from saturn_local.providers import AnthropicProvider, ChatMessage, OpenAIProvider, ProviderError
from saturn_local.providers.offline import OfflineProvider, summarize
from tests.saturn_local.conftest import Saturn
from tests.saturn_local.ledger_helpers import totals

Factory = Callable[..., contextlib.AbstractAsyncContextManager[Saturn]]

OPENAI_REPLY = {
    "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
    "object": "chat.completion",
    "created": 1741570283,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "A short answer.", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 1117,
        "completion_tokens": 46,
        "total_tokens": 1163,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    },
    "service_tier": "default",
    "system_fingerprint": "fp_fc9f1d7035",
}

ANTHROPIC_REPLY = {
    "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
    "type": "message",
    "role": "assistant",
    "model": "claude-3-5-haiku-20241022",
    "content": [{"type": "text", "text": "Hi! My name is Claude."}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 2095,
        "output_tokens": 503,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    },
}

MESSAGES = [ChatMessage("system", "Be brief."), ChatMessage("user", "Hello")]


async def test_openai_adapter_request_and_usage() -> None:
    router = respx.MockRouter(assert_all_called=True)
    route = router.post("https://llm.test/v1/chat/completions").respond(200, json=OPENAI_REPLY)
    provider = OpenAIProvider(
        base_url="https://llm.test/v1",
        api_key="sk-test",
        timeout_seconds=5,
        transport=httpx.MockTransport(router.async_handler),
    )
    try:
        done = await provider.complete(
            model="gpt-4o-mini", messages=MESSAGES, max_tokens=64, temperature=0.2
        )
    finally:
        await provider.aclose()
    request = route.calls.last.request
    assert request.headers["authorization"] == "Bearer sk-test"
    sent = __import__("json").loads(request.content)
    assert sent == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello"},
        ],
        "max_tokens": 64,
        "temperature": 0.2,
    }
    assert (done.content, done.input_tokens, done.output_tokens) == ("A short answer.", 1117, 46)


async def test_anthropic_adapter_request_and_usage() -> None:
    router = respx.MockRouter(assert_all_called=True)
    route = router.post("https://anthropic.test/v1/messages").respond(200, json=ANTHROPIC_REPLY)
    provider = AnthropicProvider(
        base_url="https://anthropic.test",
        api_key="ak-test",
        timeout_seconds=5,
        transport=httpx.MockTransport(router.async_handler),
    )
    try:
        done = await provider.complete(
            model="claude-3-5-haiku-latest", messages=MESSAGES, max_tokens=64, temperature=None
        )
    finally:
        await provider.aclose()
    request = route.calls.last.request
    assert request.headers["x-api-key"] == "ak-test"
    assert request.headers["anthropic-version"] == "2023-06-01"
    sent = __import__("json").loads(request.content)
    assert sent == {
        "model": "claude-3-5-haiku-latest",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "Hello"}],
        "system": "Be brief.",
    }
    assert (done.content, done.input_tokens, done.output_tokens) == (
        "Hi! My name is Claude.",
        2095,
        503,
    )


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(500, json={"error": {"message": "boom"}}),
        httpx.Response(429, json={"error": {"message": "rate"}}),
        httpx.Response(200, text="not json"),
        httpx.Response(200, json={"choices": []}),
    ],
)
async def test_openai_adapter_failures_raise_provider_error(response: httpx.Response) -> None:
    router = respx.MockRouter()
    router.post("https://llm.test/v1/chat/completions").mock(return_value=response)
    provider = OpenAIProvider(
        base_url="https://llm.test/v1",
        api_key=None,
        timeout_seconds=5,
        transport=httpx.MockTransport(router.async_handler),
    )
    try:
        with pytest.raises(ProviderError):
            await provider.complete(model="m", messages=MESSAGES, max_tokens=5, temperature=None)
    finally:
        await provider.aclose()


def test_offline_summary_is_deterministic_and_bounded() -> None:
    text = (
        "Budgets matter. Saturn keeps budgets per agent. Cats sleep. "
        "Every agent budget resets daily. The weather is nice."
    )
    assert summarize(text, 10_000) == summarize(text, 10_000)
    assert "budget" in summarize(text, 10_000).lower()
    assert len(summarize(text * 50, 40)) <= 40
    assert OfflineProvider().estimate_input_tokens([ChatMessage("user", "x" * 401)]) == 101


def _openai_app(
    saturn_factory: Factory, handler: Any
) -> contextlib.AbstractAsyncContextManager[Saturn]:
    router = respx.MockRouter()
    router.post("https://llm.test/v1/chat/completions").mock(side_effect=handler)
    return saturn_factory(
        settings={"provider": "openai", "openai_base_url": "https://llm.test/v1"},
        provider_transport=httpx.MockTransport(router.async_handler),
    )


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(503, json={"error": "overloaded"}),
        httpx.ReadError("connection reset by peer"),
        httpx.ConnectError("connection refused"),
    ],
    ids=["5xx", "reset", "refused"],
)
async def test_f3_provider_failure_charges_nothing(saturn_factory: Factory, failure: Any) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(failure, Exception):
            raise failure
        assert isinstance(failure, httpx.Response)
        return failure

    async with _openai_app(saturn_factory, handler) as saturn:
        agent_id, key = await saturn.create_agent(daily_cents=100)
        resp = await saturn.reason(key, {"prompt": "hello"})
        assert resp.status_code == 502
        assert resp.json()["error"]["code"] == "UPSTREAM_ERROR"
        assert await totals(saturn.pool, agent_id) == (0, 0)
        row = await saturn.pool.fetchrow("SELECT status, outcome, charged_usd_micros FROM receipts")
        assert row is not None
        assert tuple(row) == ("voided", "upstream_error", 0)


async def test_openai_cost_comes_from_returned_usage(saturn_factory: Factory) -> None:
    async with _openai_app(
        saturn_factory, lambda _: httpx.Response(200, json=OPENAI_REPLY)
    ) as saturn:
        agent_id, key = await saturn.create_agent(daily_cents=100)
        # A prompt big enough that its estimate covers the 1117 prompt tokens billed.
        resp = await saturn.reason(key, {"prompt": "word " * 800, "max_tokens": 100})
        assert resp.status_code == 200
        assert resp.json()["usage"] == {
            "inputTokens": 1117,
            "outputTokens": 46,
            "totalTokens": 1163,
        }
        expected = -(-1117 * 150_000 // 10**6) + -(-46 * 600_000 // 10**6)
        assert int(resp.headers["x-saturn-charged-usd-micros"]) == expected
        assert resp.headers["x-saturn-provider"] == "openai"
        assert await totals(saturn.pool, agent_id) == (expected, 0)


async def test_reply_without_usage_is_charged_the_hold_and_flagged(
    saturn_factory: Factory,
) -> None:
    reply = {k: v for k, v in OPENAI_REPLY.items() if k != "usage"}
    async with _openai_app(saturn_factory, lambda _: httpx.Response(200, json=reply)) as saturn:
        agent_id, key = await saturn.create_agent(daily_cents=100)
        resp = await saturn.reason(key, {"prompt": "hello", "max_tokens": 100})
        assert resp.status_code == 200
        quoted = int(resp.headers["x-saturn-quoted-usd-micros"])
        assert int(resp.headers["x-saturn-charged-usd-micros"]) == quoted
        flagged = await saturn.pool.fetchval("SELECT usage_missing FROM receipts")
        assert flagged is True
        assert await totals(saturn.pool, agent_id) == (quoted, 0)
