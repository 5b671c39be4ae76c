"""tenant-api: customers, plans, encrypted Saturn agent keys (``uvicorn --factory
tenant_api.main:create_app``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import text

from copilot_kit.db import make_engine, make_sessionmaker
from copilot_kit.errors import install_error_handlers
from copilot_kit.saturn.client import SaturnClient
from tenant_api.config import Settings
from tenant_api.context import AppContext
from tenant_api.customers.endpoints import internal_router as customers_internal_router
from tenant_api.customers.endpoints import router as customers_router
from tenant_api.dependencies import ContextDep
from tenant_api.monitoring.endpoints import internal_router as monitoring_internal_router
from tenant_api.plans.endpoints import router as plans_router
from tenant_api.reports.endpoints import router as reports_router
from tenant_api.scheduler import start as start_scheduler
from tenant_api.usage.endpoints import internal_router as usage_internal_router
from tenant_api.usage.endpoints import router as usage_router
from tenant_api.webhooks.endpoints import router as webhooks_router


def create_app(
    settings: Settings | None = None,
    *,
    saturn_client: SaturnClient | None = None,
    run_scheduler: bool = True,
) -> FastAPI:
    """The app. ``saturn_client`` replaces the one built from settings (tests inject one
    on a mock transport); an injected client is not closed by the app. ``run_scheduler``
    False leaves the background jobs (webhook delivery, rollover, scans) to the caller."""
    resolved = settings or Settings()  # filled from the environment

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(resolved.database_url, pool_size=resolved.db_pool_size)
        saturn = saturn_client or SaturnClient(
            base_url=resolved.saturn_base_url,
            api_key=resolved.saturn_admin_key,
            timeout=resolved.saturn_timeout_seconds,
        )
        app.state.context = AppContext(
            settings=resolved,
            engine=engine,
            sessionmaker=make_sessionmaker(engine),
            saturn=saturn,
            keyring=resolved.keyring(),
        )
        scheduler = start_scheduler(app.state.context) if run_scheduler else None
        try:
            yield
        finally:
            if scheduler is not None:
                await scheduler.stop()
            if saturn_client is None:
                await saturn.aclose()
            await engine.dispose()

    app = FastAPI(title="tenant-api", version="0.1.0", lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(plans_router)
    app.include_router(customers_router)
    app.include_router(customers_internal_router)
    app.include_router(usage_router)
    app.include_router(usage_internal_router)
    app.include_router(webhooks_router)
    app.include_router(reports_router)
    app.include_router(monitoring_internal_router)

    @app.get("/healthz", tags=["health"])
    async def healthz(context: ContextDep) -> dict[str, str]:
        async with context.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return {"status": "ok"}

    return app
