"""saturn-local, a Saturn-compatible spend guard.

Run with ``uvicorn --factory saturn_local.main:create_app``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from copilot_kit.logs import configure_logging
from saturn_local.agents.endpoints import router as agents_router
from saturn_local.agents.repository import AgentRepository
from saturn_local.agents.service import AgentService
from saturn_local.bootstrap import bootstrap
from saturn_local.config import Settings
from saturn_local.db import create_pool
from saturn_local.deps import Services
from saturn_local.errors import PayloadTooLarge, error_response
from saturn_local.health import router as health_router
from saturn_local.ledger.endpoints import router as ledger_router
from saturn_local.ledger.idempotency import IdempotencyStore
from saturn_local.ledger.repository import Ledger
from saturn_local.ledger.service import ReasonService
from saturn_local.ledger.sweeper import run_sweeper
from saturn_local.pricing.service import PriceBook
from saturn_local.providers import Provider, make_provider


class BodyLimit:
    """413 for bodies over the limit, by Content-Length or while a chunked body streams in."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = PayloadTooLarge(f"Request body exceeds {self.max_bytes} bytes")
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = 0
                if length > self.max_bytes:
                    await error_response(too_large)(scope, receive, send)
                    return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise too_large
            return message

        await self.app(scope, limited, send)


def create_app(
    settings: Settings | None = None,
    *,
    provider: Provider | None = None,
    provider_transport: httpx.AsyncBaseTransport | None = None,
    ledger_now_sql: str = "now()",
) -> FastAPI:
    """The app; ``provider``/``provider_transport``/``ledger_now_sql`` are for tests."""
    if settings is None:
        settings = Settings()
        configure_logging(settings.log_level)
    cfg = settings

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        pool = await create_pool(cfg.database_url, size=cfg.db_pool_size)
        active_provider = provider or make_provider(cfg, transport=provider_transport)
        sweeper: asyncio.Task[None] | None = None
        reason: ReasonService | None = None
        try:
            repo = AgentRepository(pool)
            agents = AgentService(repo, default_daily_cap_usd_cents=cfg.default_daily_cap_usd_cents)
            key = cfg.bootstrap_key.get_secret_value() if cfg.bootstrap_key else None
            await bootstrap(repo, agents, key)
            prices = PriceBook(pool)
            await prices.refresh()
            ledger = Ledger(pool, now_sql=ledger_now_sql, hold_ttl_seconds=cfg.hold_ttl_seconds)
            reason = ReasonService(
                ledger=ledger,
                prices=prices,
                provider=active_provider,
                idempotency=IdempotencyStore(
                    pool,
                    claim_ttl_seconds=cfg.hold_ttl_seconds,
                    wait_seconds=cfg.provider_timeout_seconds + 5,
                ),
                default_model=cfg.model,
                default_max_tokens=cfg.default_max_tokens,
                provider_timeout_seconds=cfg.provider_timeout_seconds,
            )
            app.state.pool = pool
            app.state.services = Services(agents_repo=repo, agents=agents, reason=reason)
            sweeper = asyncio.create_task(run_sweeper(ledger, pool, cfg.sweep_interval_seconds))
            yield {}
        finally:
            if sweeper is not None:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
            if reason is not None:
                await reason.drain()
            if provider is None:
                await active_provider.aclose()
            await pool.close()

    app = FastAPI(title="saturn-local", version="0.1.0", lifespan=lifespan)
    from saturn_local.errors import install_error_handlers

    install_error_handlers(app)
    app.include_router(health_router)
    app.include_router(agents_router)
    app.include_router(ledger_router)
    app.add_middleware(BodyLimit, max_bytes=cfg.max_body_bytes)
    return app
