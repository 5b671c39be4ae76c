"""Base classes for request and response bodies."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator


class InputModel(BaseModel):
    """Every request body: unknown fields are refused, so nothing can be mass-assigned."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # Postgres text cannot hold NUL; refuse it here rather than fail in the database.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class OutputModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorBody(BaseModel):
    """``type``/``code``/``message`` always; a failure may add fields of its own."""

    model_config = ConfigDict(extra="allow")

    type: str
    code: str
    message: str


class ErrorEnvelope(BaseModel):
    """Every non-2xx body (DESIGN.md, error envelope)."""

    error: ErrorBody


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries: each listed status answers in the error envelope."""
    return {status: {"model": ErrorEnvelope} for status in statuses}


# Every /v1 and /internal route: a body that cannot be decoded (400), no token, the wrong
# kind of token, or input it refuses (422).
AUTH_ERRORS = error_responses(400, 401, 403, 422)
