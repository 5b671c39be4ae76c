"""What every provider offers the ledger: a token estimate for the hold and one completion."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from copilot_kit.http import make_http_client


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str
    content: str


@dataclass(frozen=True, slots=True)
class Completion:
    content: str
    model: str
    # None when the provider's reply had no usable usage: the call is charged its full hold.
    input_tokens: int | None
    output_tokens: int | None


class ProviderError(Exception):
    """The provider failed (network, timeout, HTTP error, unreadable reply): nothing is charged."""


class Provider(Protocol):
    name: str
    # A remote provider may bill a request that was cut off mid-flight; the offline one cannot.
    bills_on_cancel: bool

    def estimate_input_tokens(self, messages: list[ChatMessage]) -> int: ...

    async def complete(
        self,
        *,
        model: str,
        messages: list[ChatMessage],
        max_tokens: int,
        temperature: float | None,
    ) -> Completion: ...

    async def aclose(self) -> None: ...


def conservative_token_estimate(messages: list[ChatMessage]) -> int:
    """An upper-leaning estimate for remote tokenizers: one token per 3 UTF-8 bytes plus
    4 tokens of chat framing per message (real English runs about 4 characters a token)."""
    return sum(math.ceil(len(m.content.encode()) / 3) + 4 for m in messages) or 1


def usage_value(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


class HttpChatProvider:
    """What the remote providers share: one long-lived client, the hold's input estimate,
    and one POST whose transport, status and JSON failures all become ProviderError."""

    name = "http"
    bills_on_cancel = True  # the provider may already be billing a cancelled request

    def __init__(
        self,
        *,
        base_url: str,
        headers: dict[str, str],
        timeout_seconds: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = make_http_client(
            base_url=base_url.rstrip("/") + "/",
            timeout=httpx.Timeout(timeout_seconds, connect=min(5.0, timeout_seconds)),
            headers=headers,
            transport=transport,
        )

    def estimate_input_tokens(self, messages: list[ChatMessage]) -> int:
        return conservative_token_estimate(messages)

    async def _post_json(self, path: str, body: dict[str, Any]) -> Any:
        try:
            response = await self._client.post(path, json=body)
        except httpx.HTTPError as exc:
            raise ProviderError(f"{self.name} request failed ({type(exc).__name__})") from exc
        if response.status_code >= 400:
            raise ProviderError(f"{self.name} answered HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError as exc:
            raise ProviderError(f"{self.name} reply could not be read") from exc

    async def aclose(self) -> None:
        await self._client.aclose()
