"""The copilot-gateway app: ``uvicorn --factory copilot_gateway.main:create_app``."""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from copilot_gateway.auth import TokenVerifier
from copilot_gateway.clients.tenant_api import TenantApiClient
from copilot_gateway.config import Settings
from copilot_gateway.copilot.burst import BurstAllowance
from copilot_gateway.copilot.endpoints import reason_json
from copilot_gateway.copilot.endpoints import router as copilot_router
from copilot_gateway.copilot.schemas import ReasonCreate
from copilot_gateway.copilot.service import CopilotService
from copilot_gateway.copilot.spend import SpendTracker
from copilot_gateway.resolution.service import AgentResolver
from copilot_gateway.state import GatewayState
from copilot_gateway.usage.recorder import UsageRecorder
from copilot_kit.errors import install_error_handlers
from copilot_kit.logs import configure_logging
from copilot_kit.saturn.client import SaturnClient


def build_state(
    settings: Settings,
    *,
    saturn_transport: httpx.AsyncBaseTransport | None = None,
    tenant_transport: httpx.AsyncBaseTransport | None = None,
) -> GatewayState:
    saturn = SaturnClient(
        base_url=settings.saturn_base_url,
        timeout=settings.gateway_saturn_timeout_seconds,
        connect_timeout=settings.gateway_saturn_connect_timeout_seconds,
        max_retries=0,  # reason is never retried by the client anyway; nothing else is called
        max_connections=settings.gateway_saturn_max_connections,
        transport=saturn_transport,
    )
    tenant_api = TenantApiClient(
        base_url=settings.tenant_api_url,
        service_token=settings.copilot_service_token,
        timeout=settings.gateway_tenant_api_timeout_seconds,
        connect_timeout=settings.gateway_tenant_api_connect_timeout_seconds,
        max_connections=settings.gateway_tenant_api_max_connections,
        transport=tenant_transport,
    )

    async def spent_today(customer_id: str) -> int:
        return (await tenant_api.get_usage(customer_id)).today.spent_usd_micros

    resolver = AgentResolver(
        tenant_api=tenant_api, ttl_seconds=settings.gateway_resolve_cache_seconds
    )
    recorder = UsageRecorder(
        tenant_api=tenant_api,
        batch_size=settings.gateway_usage_batch_size,
        flush_interval=settings.gateway_usage_flush_interval_seconds,
        max_queue=settings.gateway_usage_max_queue,
        retry_max_seconds=settings.gateway_usage_retry_max_seconds,
        shutdown_timeout=settings.gateway_usage_shutdown_timeout_seconds,
    )
    spend = SpendTracker(fetch=spent_today, refresh_seconds=settings.gateway_spend_refresh_seconds)
    burst = BurstAllowance(
        tenant_api=tenant_api,
        timeout_seconds=settings.gateway_burst_timeout_seconds,
        failure_backoff_seconds=settings.gateway_burst_failure_backoff_seconds,
    )
    return GatewayState(
        verifier=TokenVerifier(secret=settings.token_secret_bytes),
        saturn=saturn,
        tenant_api=tenant_api,
        resolver=resolver,
        recorder=recorder,
        spend=spend,
        burst=burst,
        copilot=CopilotService(
            saturn=saturn,
            tenant_api=tenant_api,
            resolver=resolver,
            recorder=recorder,
            spend=spend,
            burst=burst,
            default_max_output_tokens=settings.effective_default_max_output_tokens,
            max_output_tokens=settings.gateway_max_output_tokens,
        ),
        max_body_bytes=settings.gateway_max_body_bytes,
    )


_REASON_PATH = "/v1/copilot/reason"
_JSON_HEADERS = [(b"content-type", b"application/json")]


class GatewayApp(FastAPI):
    """FastAPI, with ``POST /v1/copilot/reason`` answered without the middleware stack.

    At one call in flight the stack (six middleware layers, routing, dependency solving)
    was a measurable share of the latency the gateway adds. The direct path runs the same
    code as the documented route and renders errors with the app's own exception handlers,
    in the same way as Starlette's ExceptionMiddleware and ServerErrorMiddleware.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == _REASON_PATH
            and scope["method"] == "POST"
            and not scope.get("root_path")
            and not self.user_middleware
        ):
            await self._reason(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def _reason(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        request = Request(scope, receive, send)
        try:
            content = await reason_json(request)
        except Exception as exc:
            await self._render_error(request, exc, send)
            return
        headers = [(b"content-length", str(len(content)).encode()), *_JSON_HEADERS]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    async def _render_error(self, request: Request, exc: Exception, send: Send) -> None:
        handled_as = next((c for c in type(exc).__mro__ if c in self.exception_handlers), None)
        if handled_as is None:
            raise exc
        rendered = self.exception_handlers[handled_as](request, exc)
        response = await rendered if inspect.isawaitable(rendered) else rendered
        await response(request.scope, request.receive, send)
        if handled_as is Exception:
            raise exc  # as ServerErrorMiddleware does after its 500: the server logs it


def create_app(
    settings: Settings | None = None,
    *,
    saturn_transport: httpx.AsyncBaseTransport | None = None,
    tenant_transport: httpx.AsyncBaseTransport | None = None,
    configure_logs: bool | None = None,
) -> FastAPI:
    """The app. Tests pass settings and respx transports that replace the network."""
    if settings is None:
        settings = Settings()  # secrets come from the environment
        configure_logs = True if configure_logs is None else configure_logs
    if configure_logs:
        configure_logging(settings.log_level)
        # httpx logs every request at INFO: on the hot path that is most of the gateway's CPU.
        for noisy in ("httpx", "httpcore"):
            logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.root.level))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = build_state(
            settings, saturn_transport=saturn_transport, tenant_transport=tenant_transport
        )
        app.state.gateway = state
        state.recorder.start()
        try:
            yield
        finally:
            await state.recorder.stop()
            await state.spend.aclose()
            await state.burst.aclose()
            await state.saturn.aclose()
            await state.tenant_api.aclose()

    app = GatewayApp(
        title="copilot-gateway",
        version="0.1.0",
        lifespan=lifespan,
        description="Customer AI calls, each on the customer's own capped Saturn agent.",
    )
    install_error_handlers(app)
    app.include_router(copilot_router)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    _document_reason_body(app)
    return app


def _document_reason_body(app: FastAPI) -> None:
    """Declare the reason route's JSON body in OpenAPI; the route reads it by hand."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        body = ReasonCreate.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(body.pop("$defs", {}))
        components["ReasonCreate"] = body
        operation = schema["paths"]["/v1/copilot/reason"]["post"]
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ReasonCreate"}}
            },
        }
        operation["parameters"] = [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            }
        ]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
