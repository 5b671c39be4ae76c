from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from tenant_api.models.base import Base


class UsageOutcome(StrEnum):
    OK = "ok"
    DAILY_LIMIT = "daily_limit"
    PER_CALL_LIMIT = "per_call_limit"
    ERROR = "error"


class UsageEvent(Base):
    """One gateway request's outcome; idempotent by (customer, request id)."""

    __tablename__ = "usage_events"

    customer_id: Mapped[str] = mapped_column(Text, ForeignKey("customers.id"), primary_key=True)
    id: Mapped[str] = mapped_column(Text, primary_key=True)
    outcome: Mapped[str] = mapped_column(Text)
    cost_usd_micros: Mapped[int] = mapped_column(BigInteger)
    input_tokens: Mapped[int] = mapped_column(Integer)
    output_tokens: Mapped[int] = mapped_column(Integer)
    model: Mapped[str | None] = mapped_column(Text, nullable=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
