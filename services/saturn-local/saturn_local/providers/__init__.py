"""LLM providers chosen by ``SATURN_LLM_PROVIDER``."""

from __future__ import annotations

import httpx

from saturn_local.config import ProviderName, Settings
from saturn_local.providers.anthropic import AnthropicProvider
from saturn_local.providers.base import ChatMessage, Completion, Provider, ProviderError
from saturn_local.providers.offline import OfflineProvider
from saturn_local.providers.openai import OpenAIProvider

__all__ = [
    "AnthropicProvider",
    "ChatMessage",
    "Completion",
    "OfflineProvider",
    "OpenAIProvider",
    "Provider",
    "ProviderError",
    "make_provider",
]


def make_provider(
    settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
) -> Provider:
    if settings.provider is ProviderName.OPENAI:
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        return OpenAIProvider(
            base_url=settings.openai_base_url,
            api_key=key,
            timeout_seconds=settings.provider_timeout_seconds,
            transport=transport,
        )
    if settings.provider is ProviderName.ANTHROPIC:
        key = settings.anthropic_api_key.get_secret_value() if settings.anthropic_api_key else None
        return AnthropicProvider(
            base_url=settings.anthropic_base_url,
            api_key=key,
            timeout_seconds=settings.provider_timeout_seconds,
            transport=transport,
        )
    return OfflineProvider(latency_ms=settings.offline_latency_ms)
