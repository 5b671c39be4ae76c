"""One long-lived HTTP client per remote."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from httpx_aiohttp import AiohttpTransport


def make_http_client(
    *,
    base_url: str,
    timeout: httpx.Timeout,
    max_connections: int = 200,
    headers: Mapping[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` on aiohttp's transport unless one is given.

    httpx's own transport costs ~8x the CPU of aiohttp under concurrency (see
    ``performance.md``); tests inject a mock transport (respx) instead.
    """
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=timeout,
        headers=dict(headers or {}),
        transport=transport or AiohttpTransport(limits=limits),
    )
