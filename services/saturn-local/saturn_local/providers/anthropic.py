"""Anthropic's Messages API."""

from __future__ import annotations

from typing import Any

import httpx

from saturn_local.providers.base import (
    ChatMessage,
    Completion,
    HttpChatProvider,
    ProviderError,
    usage_value,
)

ANTHROPIC_VERSION = "2023-06-01"


class AnthropicProvider(HttpChatProvider):
    name = "anthropic"

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
        super().__init__(
            base_url=base_url, headers=headers, timeout_seconds=timeout_seconds, transport=transport
        )

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
        data = await self._post_json("v1/messages", body)
        try:
            blocks = data["content"]
            content = "".join(
                b.get("text", "") for b in blocks if isinstance(b, dict) and b.get("type") == "text"
            )
        except (KeyError, TypeError) as exc:
            raise ProviderError("anthropic reply could not be read") from exc
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        return Completion(
            content=content,
            model=str(data.get("model") or model),
            input_tokens=usage_value(usage.get("input_tokens")),
            output_tokens=usage_value(usage.get("output_tokens")),
        )
