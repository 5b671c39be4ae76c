"""Any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, llama.cpp)."""

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


class OpenAIProvider(HttpChatProvider):
    name = "openai"

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        timeout_seconds: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}"} if api_key else {},
            timeout_seconds=timeout_seconds,
            transport=transport,
        )

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
        data = await self._post_json("chat/completions", body)
        try:
            content = data["choices"][0]["message"]["content"] or ""
            if not isinstance(content, str):
                raise TypeError("content is not a string")
        except (KeyError, IndexError, TypeError) as exc:
            raise ProviderError("openai reply could not be read") from exc
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        return Completion(
            content=content,
            model=str(data.get("model") or model),
            input_tokens=usage_value(usage.get("prompt_tokens")),
            output_tokens=usage_value(usage.get("completion_tokens")),
        )
