"""Bearer-token checks: the admin token for /v1, the service token for /internal."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from copilot_kit.errors import Forbidden, Unauthorized
from copilot_kit.tokens import InvalidToken, verify_token
from tenant_api.context import AppContext
from tenant_api.dependencies import get_context

CUSTOMER_TOKEN_PREFIX = "cat"


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("An 'Authorization: Bearer <token>' header is required.")
    return token


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _is_customer_token(token: str, context: AppContext) -> bool:
    try:
        verify_token(token, secret=context.token_secret, prefix=CUSTOMER_TOKEN_PREFIX)
    except InvalidToken:
        return False
    return True


def _check(request: Request, context: AppContext, *, admin: bool) -> None:
    token = _bearer(request)
    admin_token = context.settings.admin_token.get_secret_value()
    service_token = context.settings.service_token.get_secret_value()
    expected, other = (admin_token, service_token) if admin else (service_token, admin_token)
    if _same(token, expected):
        return
    if _same(token, other) or _is_customer_token(token, context):
        route_kind = "admin" if admin else "internal"
        raise Forbidden(f"This token is valid but may not use {route_kind} routes.")
    raise Unauthorized("The bearer token is invalid or expired.")


def require_admin(request: Request, context: Annotated[AppContext, Depends(get_context)]) -> None:
    _check(request, context, admin=True)


def require_service(request: Request, context: Annotated[AppContext, Depends(get_context)]) -> None:
    _check(request, context, admin=False)


AdminAuth = Depends(require_admin)
ServiceAuth = Depends(require_service)
