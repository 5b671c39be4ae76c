"""Bad bodies: 422 with the offending fields; oversize bodies: 413 — nothing reaches Saturn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from .conftest import Gateway, GatewayFactory, auth


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": "a", "messages": [{"role": "user", "content": "b"}]}, "body"),
        ({}, "body"),
        ({"max_output_tokens": 5}, "body"),
        ({"prompt": "a", "temperature": 2}, "temperature"),
        ({"prompt": "a", "max_output_tokens": -1}, "max_output_tokens"),
        ({"prompt": "a", "max_output_tokens": 0}, "max_output_tokens"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": 42}, "prompt"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages.0.role"),
        ({"messages": [{"role": "user", "content": "x", "name": "n"}]}, "messages.0.name"),
        (["prompt"], "body"),
    ],
    ids=[
        "both",
        "neither",
        "only-max-tokens",
        "extra-field",
        "negative-max-tokens",
        "zero-max-tokens",
        "empty-prompt",
        "prompt-not-string",
        "no-messages",
        "bad-role",
        "extra-message-field",
        "not-an-object",
    ],
)
async def test_bad_bodies_are_422(gateway: Gateway, body: Any, field: str) -> None:
    resp = await gateway.reason(body=body)

    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["type"] == "invalid_request"
    assert field in [f["field"] for f in error["fields"]]
    assert gateway.saturn.requests == []


async def test_malformed_json_is_422(gateway: Gateway) -> None:
    resp = await gateway.client.post(
        "/v1/copilot/reason",
        content=b'{"prompt": ',
        headers={**auth("cus_a"), "Content-Type": "application/json"},
    )

    assert resp.status_code == 422
    assert resp.json()["error"]["type"] == "invalid_request"
    assert gateway.saturn.requests == []


@pytest.fixture
async def small_gateway(make_gateway: GatewayFactory) -> Gateway:
    gw: Gateway = await make_gateway(gateway_max_body_bytes=1000)
    return gw


async def test_declared_oversize_body_is_413(small_gateway: Gateway) -> None:
    resp = await small_gateway.reason(body={"prompt": "x" * 2000})

    assert resp.status_code == 413
    error = resp.json()["error"]
    assert error["code"] == "payload_too_large"
    assert error["limit_bytes"] == 1000
    assert small_gateway.saturn.requests == []
    assert small_gateway.tenant.lookups == []


async def test_chunked_oversize_body_is_413_without_reading_it_all(small_gateway: Gateway) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"prompt": "'
        for _ in range(10_000):  # 3 MB if it were all read
            sent += 1
            yield b"x" * 300
        yield b'"}'

    resp = await small_gateway.client.post(
        "/v1/copilot/reason",
        content=chunks(),
        headers={**auth("cus_a"), "Content-Type": "application/json"},
    )

    assert resp.status_code == 413
    assert "content-length" not in {k.lower() for k in resp.request.headers}
    assert sent < 100  # stopped a little past the 1000-byte limit
    assert small_gateway.saturn.requests == []


async def test_body_at_the_limit_is_accepted(small_gateway: Gateway) -> None:
    prompt = "x" * (1000 - len('{"prompt":""}'))
    resp = await small_gateway.client.post(
        "/v1/copilot/reason",
        content=('{"prompt":"' + prompt + '"}').encode(),
        headers={**auth("cus_a"), "Content-Type": "application/json"},
    )

    assert resp.status_code == 200, resp.text
    assert small_gateway.saturn.bodies()[0]["prompt"] == prompt


async def test_default_limit_fits_a_large_document(gateway: Gateway) -> None:
    """4 MiB by default: a 500-page document (~3 MB of text) goes through."""
    document = "Lorem ipsum dolor sit amet. " * 110_000  # ~3.1 MB

    resp = await gateway.reason(body={"prompt": document})

    assert resp.status_code == 200
    assert len(gateway.saturn.bodies()[0]["prompt"]) == len(document)
