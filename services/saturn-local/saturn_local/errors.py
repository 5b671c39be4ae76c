"""Saturn's own error envelope ``{"error": {"code", "message", "details"?}}``.

saturn-local speaks Saturn's wire protocol, so it does not use the project envelope.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger("saturn_local.errors")


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorEnvelope(BaseModel):
    """Saturn's error body, as documented in OpenAPI (``details`` is left out when empty)."""

    error: ErrorBody


# Every /v1 route answers its failures in this envelope: validation is 400 (not FastAPI's
# 422 shape), a reused idempotency key 422, provider and ledger trouble 502/503.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorEnvelope, "description": "Saturn's error envelope"},
    "5XX": {"model": ErrorEnvelope, "description": "Saturn's error envelope"},
}


class SaturnLocalError(Exception):
    status_code = 400
    code = "VALIDATION_ERROR"

    def __init__(
        self,
        message: str,
        *,
        details: Any = None,
        status_code: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if status_code is not None:
            self.status_code = status_code
        if code is not None:
            self.code = code

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}


class ValidationFailed(SaturnLocalError):
    status_code = 400
    code = "VALIDATION_ERROR"


class Unauthorized(SaturnLocalError):
    status_code = 401
    code = "UNAUTHORIZED"


class PolicyDenied(SaturnLocalError):
    status_code = 403
    code = "POLICY_DENIED"


class NotFound(SaturnLocalError):
    status_code = 404
    code = "NOT_FOUND"


class PayloadTooLarge(SaturnLocalError):
    status_code = 413
    code = "PAYLOAD_TOO_LARGE"


class IdempotencyKeyReused(SaturnLocalError):
    status_code = 422
    code = "IDEMPOTENCY_KEY_REUSED"


class IdempotencyInProgress(SaturnLocalError):
    status_code = 409
    code = "IDEMPOTENCY_IN_PROGRESS"


class UpstreamError(SaturnLocalError):
    status_code = 502
    code = "UPSTREAM_ERROR"


class LedgerUnavailable(SaturnLocalError):
    status_code = 503
    code = "SERVICE_UNAVAILABLE"


def error_response(exc: SaturnLocalError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status_code)


def install_error_handlers(app: FastAPI) -> None:
    async def on_saturn_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, SaturnLocalError)
        return error_response(exc)

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        details = [
            {"path": [str(p) for p in err.get("loc", ())], "message": err.get("msg", "")}
            for err in exc.errors()
        ]
        return error_response(ValidationFailed("Invalid request", details=details))

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code in (404, 405):
            # Express (the real server) has no 405: an unmatched method is an unknown route.
            return error_response(NotFound("Route not found"))
        return error_response(
            SaturnLocalError(str(exc.detail), status_code=exc.status_code, code="HTTP_ERROR")
        )

    async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", exc_info=exc)
        return error_response(
            SaturnLocalError("Internal server error", status_code=500, code="INTERNAL_ERROR")
        )

    app.add_exception_handler(SaturnLocalError, on_saturn_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
