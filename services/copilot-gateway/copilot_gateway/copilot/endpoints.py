"""``/v1/copilot/*``: parse, call the service, return.

The reason route reads the raw body itself: it must count bytes as they stream in (413
without buffering a huge body) and validates the JSON once, in pydantic's core, instead of
FastAPI's parse-then-validate. Its OpenAPI request body is declared by hand in main.py.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from copilot_gateway.clients.tenant_api import CustomerUsage
from copilot_gateway.copilot.schemas import ReasonCreate, ReasonRead, error_responses
from copilot_gateway.state import GatewayState
from copilot_kit.errors import AppError, InvalidRequest

router = APIRouter(prefix="/v1/copilot", tags=["copilot"])

_JSON = "application/json"
_MAX_IDEMPOTENCY_KEY = 255


class PayloadTooLarge(AppError):
    status_code = 413
    type = "invalid_request"
    code = "payload_too_large"


async def _read_body(request: Request, limit: int) -> bytes:
    too_large = PayloadTooLarge(
        f"The request body is larger than the limit of {limit} bytes.", limit_bytes=limit
    )
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise InvalidRequest("The Content-Length header is not a number.")
        if int(declared) > limit:
            raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_reason(raw: bytes) -> ReasonCreate:
    try:
        return ReasonCreate.model_validate_json(raw)
    except ValidationError as exc:
        errors = [{**err, "loc": ("body", *err["loc"])} for err in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


def _idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not 0 < len(value) <= _MAX_IDEMPOTENCY_KEY or not value.isprintable() or not value.isascii():
        raise InvalidRequest(
            f"Idempotency-Key must be 1 to {_MAX_IDEMPOTENCY_KEY} printable ASCII characters.",
            code="invalid_idempotency_key",
        )
    return value


@router.post(
    "/reason",
    response_model=ReasonRead,
    responses=error_responses(401, 402, 403, 413, 422, 429, 503),
    summary="Ask the copilot; runs on the calling customer's own capped agent.",
)
async def reason(request: Request) -> Response:
    return Response(await reason_json(request), media_type=_JSON)


async def reason_json(request: Request) -> bytes:
    """The reason route's work, up to the JSON answer; shared with the app's direct path."""
    state: GatewayState = request.app.state.gateway
    customer_id = state.verifier.customer_id(request.headers.get("authorization"))
    raw = await _read_body(request, state.max_body_bytes)
    body = _parse_reason(raw)
    result = await state.copilot.reason(
        customer_id,
        body,
        idempotency_key=_idempotency_key(request.headers.get("idempotency-key")),
    )
    return result.__pydantic_serializer__.to_json(result)


@router.get(
    "/usage",
    response_model=CustomerUsage,
    responses=error_responses(401, 403, 503),
    summary="The calling customer's own usage: today, this month, and per day.",
)
async def usage(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Response:
    state: GatewayState = request.app.state.gateway
    customer_id = state.verifier.customer_id(authorization)
    result = await state.copilot.usage(customer_id)
    return Response(result.model_dump_json(), media_type=_JSON)
