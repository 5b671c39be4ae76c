"""Any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, llama.cpp)."""

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


class OpenAIProvider:
    name = "openai"
    bills_on_cancel = True

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        timeout_seconds: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
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
        body: dict[str, Any] = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": max_tokens,
        }
        if temperature is not None:
            body["temperature"] = temperature
        try:
            response = await self._client.post("chat/completions", json=body)
        except httpx.HTTPError as exc:
            raise ProviderError(f"openai request failed ({type(exc).__name__})") from exc
        if response.status_code >= 400:
            raise ProviderError(f"openai answered HTTP {response.status_code}")
        try:
            data = response.json()
            content = data["choices"][0]["message"]["content"] or ""
            if not isinstance(content, str):
                raise TypeError("content is not a string")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ProviderError("openai reply could not be read") from exc
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        return Completion(
            content=content,
            model=str(data.get("model") or model),
            input_tokens=usage_value(usage.get("prompt_tokens")),
            output_tokens=usage_value(usage.get("completion_tokens")),
        )

    async def aclose(self) -> None:
        await self._client.aclose()
