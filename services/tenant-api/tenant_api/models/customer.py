from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import DateTime, ForeignKey, Integer, LargeBinary, Text
from sqlalchemy.orm import Mapped, mapped_column

from tenant_api.models.base import Base, TimestampMixin


class CustomerStatus(StrEnum):
    PENDING = "pending"  # signup started, Saturn agent not confirmed yet: never usable
    ACTIVE = "active"
    CHURNED = "churned"


class Customer(TimestampMixin, Base):
    __tablename__ = "customers"
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    external_id: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    plan_tier: Mapped[str] = mapped_column(Text, ForeignKey("plans.tier"))
    seats: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(Text)
    agent_name: Mapped[str] = mapped_column(Text)
    agent_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    agent_key_last4: Mapped[str | None] = mapped_column(Text, nullable=True)
    agent_key_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    agent_key_kid: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The caps last applied at Saturn for this customer's agent.
    daily_cap_usd_cents: Mapped[int] = mapped_column(Integer)
    per_call_cap_usd_cents: Mapped[int] = mapped_column(Integer)
    signup_lease_until: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )

    def __repr__(self) -> str:
        return f"Customer(id={self.id!r}, status={self.status!r}, plan={self.plan_tier!r})"
