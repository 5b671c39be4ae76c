"""saturn-local test fixtures: the app in-process (ASGI), a raw pool, helpers to make agents."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from copilot_kit.db import asyncpg_connect_args
from saturn_local.config import Settings
from saturn_local.main import create_app

BOOTSTRAP_KEY = "sk_agt_" + "ab" * 32
PRIMARY = {"Authorization": f"Bearer {BOOTSTRAP_KEY}"}
# A test-only model whose every call costs exactly its hold: input 40 chars = 10 tokens at
# $7,000 per million tokens = 70,000 micros = 7 cents; output is free.
FLAT7_MODEL = "test-flat-7"
FLAT7_PROMPT = "x" * 40


def make_settings(db_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": db_url,
        "bootstrap_key": BOOTSTRAP_KEY,
        "sweep_interval_seconds": 3600.0,
        "provider_timeout_seconds": 5.0,
        "hold_ttl_seconds": 60,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def pool(saturn_db_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await asyncpg.create_pool(**asyncpg_connect_args(saturn_db_url), min_size=1, max_size=4)
    yield p
    await p.close()


async def add_price(
    pool: asyncpg.Pool,
    model: str,
    *,
    input_per_million: int,
    output_per_million: int = 0,
    max_output_tokens: int = 4096,
    provider: str = "offline",
) -> None:
    await pool.execute(
        "INSERT INTO prices (model, version, provider, input_micros_per_million,"
        " output_micros_per_million, max_output_tokens) VALUES ($1, 1, $2, $3, $4, $5)",
        model,
        provider,
        input_per_million,
        output_per_million,
        max_output_tokens,
    )


async def add_flat7(pool: asyncpg.Pool) -> None:
    await add_price(pool, FLAT7_MODEL, input_per_million=7_000_000_000)


@dataclass
class Saturn:
    """The app in-process, with its ASGI client and a raw pool on the same database."""

    app: FastAPI
    http: httpx.AsyncClient
    pool: asyncpg.Pool

    async def create_agent(
        self, name: str = "worker", *, per_call_cents: int | None = None, daily_cents: Any = ...
    ) -> tuple[str, str]:
        resp = await self.http.post("/v1/agents", json={"name": name}, headers=PRIMARY)
        assert resp.status_code == 201, resp.text
        body = resp.json()
        patch: dict[str, Any] = {"maxPerCallUsdCents": per_call_cents}
        if daily_cents is not ...:
            patch["maxPerDayUsdCents"] = daily_cents
        resp = await self.http.patch(f"/v1/agents/{body['id']}/policy", json=patch, headers=PRIMARY)
        assert resp.status_code == 200, resp.text
        return body["id"], body["apiKey"]

    async def reason(
        self, key: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.http.post(
            "/v1/capabilities/reason",
            json=body,
            headers={"Authorization": f"Bearer {key}", **(headers or {})},
        )

    async def day(self, agent_id: str) -> asyncpg.Record | None:
        return await self.pool.fetchrow(
            "SELECT * FROM ledger_day_figures WHERE agent_id = $1 ORDER BY day DESC LIMIT 1",
            agent_id,
        )


@contextlib.asynccontextmanager
async def running(app: FastAPI, pool: asyncpg.Pool) -> AsyncIterator[Saturn]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://saturn") as http:
            yield Saturn(app=app, http=http, pool=pool)


@pytest.fixture
def saturn_factory(
    saturn_db_url: str, pool: asyncpg.Pool
) -> Callable[..., contextlib.AbstractAsyncContextManager[Saturn]]:
    def factory(**kwargs: Any) -> contextlib.AbstractAsyncContextManager[Saturn]:
        settings_overrides = kwargs.pop("settings", {})
        app = create_app(make_settings(saturn_db_url, **settings_overrides), **kwargs)
        return running(app, pool)

    return factory


@pytest.fixture
async def saturn(
    saturn_factory: Callable[..., contextlib.AbstractAsyncContextManager[Saturn]],
) -> AsyncIterator[Saturn]:
    async with saturn_factory() as s:
        yield s


class CountingProvider:
    """The offline model, counting calls; ``gate`` (if set) holds every call until opened."""

    name = "offline"
    bills_on_cancel = False

    def __init__(self, *, hang: bool = False, delay: float = 0.0) -> None:
        from saturn_local.providers.offline import OfflineProvider

        self._inner = OfflineProvider()
        self.calls = 0
        self.entered = asyncio.Event()
        self.hang = hang
        self.delay = delay

    def estimate_input_tokens(self, messages: list[Any]) -> int:
        return self._inner.estimate_input_tokens(messages)

    async def complete(self, **kwargs: Any) -> Any:
        self.calls += 1
        self.entered.set()
        if self.hang:
            await asyncio.sleep(3600)
        if self.delay:
            await asyncio.sleep(self.delay)
        return await self._inner.complete(**kwargs)

    async def aclose(self) -> None:
        return None
