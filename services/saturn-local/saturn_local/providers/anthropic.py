"""Anthropic's Messages API."""

from __future__ import annotations

from typing import Any

import httpx

from copilot_kit.http import make_http_client
from saturn_local.providers.base import (
    ChatMessage,
    Completion,
    ProviderError,
    conservative_token_estimate,
    usage_value,
)

ANTHROPIC_VERSION = "2023-06-01"


class AnthropicProvider:
    name = "anthropic"
    bills_on_cancel = True

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        timeout_seconds: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if api_key:
            headers["x-api-key"] = api_key
        self._client = make_http_client(
            base_url=base_url.rstrip("/") + "/",
            timeout=httpx.Timeout(timeout_seconds, connect=min(5.0, timeout_seconds)),
            headers=headers,
            transport=transport,
        )

    def estimate_input_tokens(self, messages: list[ChatMessage]) -> int:
        return conservative_token_estimate(messages)

    async def complete(
        self,
        *,
        model: str,
        messages: list[ChatMessage],
        max_tokens: int,
        temperature: float | None,
    ) -> Completion:
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        body: dict[str, Any] = {
            "model": model,
            "max_tokens": max_tokens,
            "messages": [
                {"role": m.role, "content": m.content} for m in messages if m.role != "system"
            ],
        }
        if system:
            body["system"] = system
        if temperature is not None:
            body["temperature"] = temperature
        try:
            response = await self._client.post("v1/messages", json=body)
        except httpx.HTTPError as exc:
            raise ProviderError(f"anthropic request failed ({type(exc).__name__})") from exc
        if response.status_code >= 400:
            raise ProviderError(f"anthropic answered HTTP {response.status_code}")
        try:
            data = response.json()
            blocks = data["content"]
            content = "".join(
                b.get("text", "") for b in blocks if isinstance(b, dict) and b.get("type") == "text"
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ProviderError("anthropic reply could not be read") from exc
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        return Completion(
            content=content,
            model=str(data.get("model") or model),
            input_tokens=usage_value(usage.get("input_tokens")),
            output_tokens=usage_value(usage.get("output_tokens")),
        )

    async def aclose(self) -> None:
        await self._client.aclose()
