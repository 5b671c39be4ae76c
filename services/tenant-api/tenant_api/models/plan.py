from __future__ import annotations

from sqlalchemy import Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from tenant_api.models.base import Base, TimestampMixin


class Plan(TimestampMixin, Base):
    __tablename__ = "plans"
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012

    tier: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    daily_cap_usd_cents: Mapped[int] = mapped_column(Integer)
    per_call_cap_usd_cents: Mapped[int] = mapped_column(Integer)
    seat_price_usd_cents: Mapped[int] = mapped_column(Integer)
    burst_multiplier_percent: Mapped[int] = mapped_column(Integer)
    burst_days_per_month: Mapped[int] = mapped_column(Integer)
    rollover_max_usd_cents: Mapped[int] = mapped_column(Integer)
    upgrade_url: Mapped[str] = mapped_column(Text)
