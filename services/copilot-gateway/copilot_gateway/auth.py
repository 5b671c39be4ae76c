"""Customer access tokens, verified locally (HMAC, no network call).

The token alone decides the customer: nothing in the body, a header or the query can name
another one (pitfalls.md A1).
"""

from __future__ import annotations

from copilot_kit.errors import Unauthorized
from copilot_kit.tokens import InvalidToken, verify_token

ACCESS_TOKEN_PREFIX = "cat"


class InvalidAccessToken(Unauthorized):
    code = "invalid_token"
    message = "The access token is invalid or expired."


class MissingAccessToken(Unauthorized):
    message = "A customer access token is required: Authorization: Bearer <token>."


class TokenVerifier:
    def __init__(self, *, secret: bytes) -> None:
        self._secret = secret

    def customer_id(self, authorization: str | None) -> str:
        """The customer the bearer token names; 401 for anything else."""
        if not authorization:
            raise MissingAccessToken(headers={"WWW-Authenticate": "Bearer"})
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise MissingAccessToken(headers={"WWW-Authenticate": "Bearer"})
        try:
            claims = verify_token(token, secret=self._secret, prefix=ACCESS_TOKEN_PREFIX)
        except (InvalidToken, TypeError, ValueError) as exc:  # TypeError: non-ASCII digest
            raise InvalidAccessToken(
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            ) from exc
        if not claims.sub:
            raise InvalidAccessToken()
        return claims.sub
