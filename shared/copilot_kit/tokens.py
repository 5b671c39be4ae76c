"""Signed, expiring bearer tokens that a verifier checks without a network call.

Format: ``<prefix>_<base64url(json claims)>.<base64url(HMAC-SHA256)>``. Claims: ``sub`` (the
one subject the token names), ``exp`` (unix seconds), ``jti`` (unique id). The signing
secret is shared by the issuer and the verifiers through settings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass


class InvalidToken(Exception):
    """Malformed, forged, or expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class TokenClaims:
    sub: str
    exp: int
    jti: str


def _sign(secret: bytes, prefix: str, payload: str) -> str:
    return _b64(hmac.new(secret, f"{prefix}.{payload}".encode(), hashlib.sha256).digest())


def issue_token(
    *, secret: bytes, prefix: str, subject: str, ttl_seconds: int, now: float | None = None
) -> tuple[str, TokenClaims]:
    issued = int(now if now is not None else time.time())
    claims = TokenClaims(sub=subject, exp=issued + ttl_seconds, jti=secrets.token_hex(12))
    payload = _b64(
        json.dumps(
            {"sub": claims.sub, "exp": claims.exp, "jti": claims.jti}, separators=(",", ":")
        ).encode()
    )
    return f"{prefix}_{payload}.{_sign(secret, prefix, payload)}", claims


def verify_token(
    token: str, *, secret: bytes, prefix: str, now: float | None = None
) -> TokenClaims:
    head, sep, rest = token.partition("_")
    if not sep or head != prefix:
        raise InvalidToken("wrong token type")
    payload, dot, signature = rest.partition(".")
    if not dot or not payload or not signature:
        raise InvalidToken("malformed token")
    if not hmac.compare_digest(_sign(secret, prefix, payload), signature):
        raise InvalidToken("bad signature")
    try:
        data = json.loads(_unb64(payload))
        claims = TokenClaims(sub=str(data["sub"]), exp=int(data["exp"]), jti=str(data["jti"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidToken("malformed claims") from exc
    if claims.exp <= int(now if now is not None else time.time()):
        raise InvalidToken("expired")
    return claims


def hash_secret(value: str) -> str:
    """Store issued secrets only as this hash (SHA-256 hex)."""
    return hashlib.sha256(value.encode()).hexdigest()
