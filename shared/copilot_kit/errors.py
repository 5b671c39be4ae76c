"""The error envelope shared by tenant-api and copilot-gateway.

Every non-2xx body is ``{"error": {"type", "code", "message", ...extra}}``. Services raise
:class:`AppError` subclasses; :func:`install_error_handlers` renders them, and turns
validation failures, unknown routes and anything unexpected into the same envelope.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger("copilot_kit.errors")


class AppError(Exception):
    """An expected failure with its HTTP status and envelope fields."""

    status_code: int = 400
    type: str = "invalid_request"
    code: str = "invalid_request"
    message: str = "The request is invalid."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status_code: int | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        self.message = message or type(self).message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.headers = dict(headers or {})
        self.extra = extra
        super().__init__(self.message)

    def envelope(self) -> dict[str, Any]:
        return {
            "error": {"type": self.type, "code": self.code, "message": self.message, **self.extra}
        }


class InvalidRequest(AppError):
    status_code = 422
    type = "invalid_request"
    code = "invalid_request"


class NotFound(AppError):
    status_code = 404
    type = "not_found"
    code = "not_found"
    message = "The resource does not exist."


class Conflict(AppError):
    status_code = 409
    type = "conflict"
    code = "conflict"
    message = "The request conflicts with the current state."


class Unauthorized(AppError):
    status_code = 401
    type = "authentication_error"
    code = "unauthorized"
    message = "A valid bearer token is required."


class Forbidden(AppError):
    status_code = 403
    type = "permission_error"
    code = "forbidden"
    message = "This token may not use this route."


class ServiceUnavailable(AppError):
    status_code = 503
    type = "service_unavailable"
    code = "service_unavailable"
    message = "A service this request depends on is unavailable. Try again shortly."


def error_response(
    status_code: int,
    type_: str,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {"error": {"type": type_, "code": code, "message": message, **extra}}
    return JSONResponse(body, status_code=status_code, headers=dict(headers or {}))


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    fields = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ()) if part != "body"]
        fields.append({"field": ".".join(loc) or "body", "message": str(err.get("msg", ""))})
    return fields


_STATUS_CODES: dict[int, tuple[str, str]] = {
    401: ("authentication_error", "unauthorized"),
    403: ("permission_error", "forbidden"),
    404: ("not_found", "not_found"),
    405: ("invalid_request", "method_not_allowed"),
    413: ("invalid_request", "payload_too_large"),
}


def install_error_handlers(app: FastAPI) -> None:
    """Render every error of ``app`` in the envelope; nothing leaks a stack trace."""

    async def on_app_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AppError)
        return JSONResponse(exc.envelope(), status_code=exc.status_code, headers=exc.headers)

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        fields = _field_errors(exc)
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
        return error_response(
            422,
            "invalid_request",
            "invalid_request",
            f"The request is invalid: {summary}." if summary else "The request is invalid.",
            fields=fields,
        )

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        type_, code = _STATUS_CODES.get(exc.status_code, ("invalid_request", "http_error"))
        message = exc.detail if isinstance(exc.detail, str) else "The request failed."
        return error_response(exc.status_code, type_, code, message, headers=exc.headers)

    async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", exc_info=exc)
        return error_response(
            500, "internal_error", "internal_error", "An unexpected error occurred."
        )

    app.add_exception_handler(AppError, on_app_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
