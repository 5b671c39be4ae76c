"""``upsell`` when a plan with a higher daily cap exists, else ``cost_risk``."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


class Recommendation(StrEnum):
    UPSELL = "upsell"
    COST_RISK = "cost_risk"


async def recommendations(
    session: AsyncSession, plan_caps: Mapping[str, int]
) -> dict[str, Recommendation]:
    """Customer id → advice, from the daily cap of the customer's plan."""
    highest = (
        await session.execute(text("SELECT max(daily_cap_usd_cents) FROM plans"))
    ).scalar_one()
    return {
        customer_id: Recommendation.UPSELL
        if highest is not None and highest > cap
        else Recommendation.COST_RISK
        for customer_id, cap in plan_caps.items()
    }
