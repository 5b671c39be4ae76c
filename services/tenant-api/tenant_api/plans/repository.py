from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenant_api.models import Customer, CustomerStatus, Plan


async def list_plans(session: AsyncSession) -> Sequence[Plan]:
    result = await session.scalars(select(Plan).order_by(Plan.daily_cap_usd_cents, Plan.tier))
    return result.all()


async def get_plan(session: AsyncSession, tier: str, *, for_update: bool = False) -> Plan | None:
    statement = select(Plan).where(Plan.tier == tier)
    if for_update:
        statement = statement.with_for_update()
    return (await session.scalars(statement)).one_or_none()


async def active_customers_on(session: AsyncSession, tier: str) -> Sequence[Customer]:
    result = await session.scalars(
        select(Customer)
        .where(Customer.plan_tier == tier, Customer.status == CustomerStatus.ACTIVE)
        .order_by(Customer.id)
    )
    return result.all()


async def set_caps_of_customers(
    session: AsyncSession, customer_ids: Sequence[str], *, daily: int, per_call: int
) -> None:
    if not customer_ids:
        return
    await session.execute(
        update(Customer)
        .where(Customer.id.in_(customer_ids))
        .values(daily_cap_usd_cents=daily, per_call_cap_usd_cents=per_call)
        .execution_options(synchronize_session=False)
    )
