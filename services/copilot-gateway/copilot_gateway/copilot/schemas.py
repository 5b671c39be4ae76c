"""Request and response bodies of ``/v1/copilot/*`` (DESIGN.md, copilot-gateway)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Role(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    content: str = Field(min_length=1)


class ReasonCreate(BaseModel):
    """Exactly one of ``prompt`` and ``messages``; anything else is refused (422)."""

    model_config = ConfigDict(
        extra="forbid",
        # The validator below, said in OpenAPI terms so clients and fuzzers see the rule.
        json_schema_extra={
            "oneOf": [
                {"required": ["prompt"], "properties": {"prompt": {"type": "string"}}},
                {"required": ["messages"], "properties": {"messages": {"type": "array"}}},
            ]
        },
    )

    prompt: str | None = Field(default=None, min_length=1)
    messages: list[ChatMessage] | None = Field(default=None, min_length=1)
    max_output_tokens: int | None = Field(default=None, gt=0)
    model: str | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _exactly_one_input(self) -> ReasonCreate:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give exactly one of 'prompt' and 'messages'")
        return self


class TokenUsage(BaseModel):
    input_tokens: int
    output_tokens: int


class Budget(BaseModel):
    spent_today_usd_micros: int
    daily_cap_usd_cents: int
    remaining_usd_micros: int
    resets_at: datetime


class ReasonRead(BaseModel):
    id: str
    response: str
    model: str
    usage: TokenUsage
    cost_usd_micros: int
    budget: Budget


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    code: str
    message: str


class ErrorEnvelope(BaseModel):
    error: ErrorBody


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries: every listed status answers in the error envelope."""
    return {status: {"model": ErrorEnvelope} for status in statuses}
