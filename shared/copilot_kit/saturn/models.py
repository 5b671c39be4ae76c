"""Request and response models of the Saturn wire protocol (camelCase on the wire).

Both sides use these: the client in :mod:`copilot_kit.saturn.client` and saturn-local.
Python attributes are snake_case; ``model_dump(by_alias=True)`` gives the wire form.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic.alias_generators import to_camel


class WireModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class AgentStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    KILLED = "killed"


class Agent(WireModel):
    id: str
    name: str
    status: AgentStatus
    role: str = "worker"
    account_id: str | None = None
    metadata: dict[str, Any] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class AgentWithKey(Agent):
    """Only create and regenerate return the key; it is never shown again."""

    api_key: SecretStr


class Policy(WireModel):
    agent_id: str
    max_per_call_usd_cents: int | None = None
    max_per_day_usd_cents: int | None = None
    kill_switch: bool = False


class PolicyUpdate(WireModel):
    """A policy PATCH: only the fields that are set are sent (``exclude_unset``)."""

    max_per_call_usd_cents: int | None = Field(default=None, gt=0)
    max_per_day_usd_cents: int | None = Field(default=None, gt=0)
    kill_switch: bool | None = None


class Message(WireModel):
    role: Literal["system", "user", "assistant"]
    content: str


class ReasonRequest(BaseModel):
    """Body of ``POST /v1/capabilities/reason``; ``max_tokens`` is snake_case on the wire
    because that is what the real server's quote reads."""

    model_config = ConfigDict(extra="forbid")

    prompt: str | None = None
    messages: list[Message] | None = None
    model: str | None = None
    max_tokens: int | None = Field(default=None, gt=0)
    temperature: float | None = None


class Usage(WireModel):
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0


class Receipt(BaseModel):
    """Billing metadata from the ``X-Saturn-*`` response headers."""

    audit_id: str | None = None
    quoted_usd_cents: int | None = None
    charged_usd_cents: int | None = None
    quoted_sats: int | None = None
    charged_sats: int | None = None
    balance_after: int | None = None
    capability: str | None = None
    provider: str | None = None
    # saturn-local's exact figures; None on the real server.
    quoted_usd_micros: int | None = None
    charged_usd_micros: int | None = None
    # saturn-local's day figures right after this call (absent on a replay, and on the real
    # server): the agent's spend today, and its daily cap (also absent when it has none).
    spent_today_usd_micros: int | None = None
    daily_cap_usd_micros: int | None = None
    idempotent_replay: bool = False

    @property
    def cost_usd_micros(self) -> int:
        """Exact when the server says so, else the (rounded-up) cents."""
        if self.charged_usd_micros is not None:
            return self.charged_usd_micros
        return (self.charged_usd_cents or 0) * 10_000


class ReasonResult(BaseModel):
    content: str
    model: str
    usage: Usage
    receipt: Receipt


class AgentSpend(WireModel):
    """One row of ``GET /v1/admin/agents``."""

    id: str
    name: str
    status: AgentStatus
    today_spend_usd_cents: int = 0
    total_calls: int = 0


class UsageDay(WireModel):
    date: date
    spent_usd_micros: int
    held_usd_micros: int = 0
    cap_usd_cents: int | None = None
    calls: int = 0
    denied_calls: int = 0
    at_cap: bool = False


class AgentUsage(WireModel):
    """saturn-local's ``GET /v1/agents/{id}/usage?days=N``: one row per UTC day, newest first."""

    agent_id: str
    days: list[UsageDay]


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorEnvelope(BaseModel):
    error: ErrorBody
