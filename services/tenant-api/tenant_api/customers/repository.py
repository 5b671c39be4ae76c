from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenant_api.customers.pagination import Position
from tenant_api.models import AccessToken, Customer, CustomerStatus, Plan

# Ids we issue; anything else cannot exist, so it is not sent to the database at all.
_CUSTOMER_ID = re.compile(r"^cus_[0-9a-f]{24}$")


def is_customer_id(value: str) -> bool:
    return _CUSTOMER_ID.fullmatch(value) is not None


async def get(session: AsyncSession, customer_id: str) -> Customer | None:
    if not is_customer_id(customer_id):
        return None
    return await session.get(Customer, customer_id)


async def get_by_external_id(session: AsyncSession, external_id: str) -> Customer | None:
    result = await session.scalars(select(Customer).where(Customer.external_id == external_id))
    return result.one_or_none()


async def get_with_plan(session: AsyncSession, customer_id: str) -> tuple[Customer, Plan] | None:
    if not is_customer_id(customer_id):
        return None
    row = (
        await session.execute(
            select(Customer, Plan)
            .join(Plan, Plan.tier == Customer.plan_tier)
            .where(Customer.id == customer_id)
        )
    ).one_or_none()
    return None if row is None else (row[0], row[1])


async def list_page(
    session: AsyncSession,
    *,
    plan: str | None,
    status: str | None,
    external_id: str | None,
    after: Position | None,
    limit: int,
) -> Sequence[Customer]:
    statement = select(Customer)
    if plan is not None:
        statement = statement.where(Customer.plan_tier == plan)
    if status is not None:
        statement = statement.where(Customer.status == status)
    if external_id is not None:
        statement = statement.where(Customer.external_id == external_id)
    if after is not None:
        statement = statement.where(
            tuple_(Customer.created_at, Customer.id) > tuple_(after.created_at, after.id)
        )
    statement = statement.order_by(Customer.created_at, Customer.id).limit(limit)
    return (await session.scalars(statement)).all()


async def claim_signup(
    session: AsyncSession, customer_id: str, lease: timedelta
) -> Customer | None:
    """Take the pending customer's signup lease, unless another attempt holds it."""
    result = await session.scalars(
        update(Customer)
        .where(
            Customer.id == customer_id,
            Customer.status == CustomerStatus.PENDING,
            or_(Customer.signup_lease_until.is_(None), Customer.signup_lease_until < func.now()),
        )
        .values(signup_lease_until=func.now() + lease)
        .returning(Customer)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return result.one_or_none()


async def release_signup(session: AsyncSession, customer_id: str) -> None:
    await session.execute(
        update(Customer)
        .where(Customer.id == customer_id, Customer.status == CustomerStatus.PENDING)
        .values(signup_lease_until=None)
        .execution_options(synchronize_session=False)
    )


async def update_where(
    session: AsyncSession, customer_id: str, conditions: Sequence[Any], **values: Any
) -> Customer | None:
    """Update the customer only if ``conditions`` still hold; the new row or ``None``."""
    result = await session.scalars(
        update(Customer)
        .where(and_(Customer.id == customer_id, *conditions))
        .values(**values)
        .returning(Customer)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return result.one_or_none()


async def db_now(session: AsyncSession) -> datetime:
    return (await session.execute(select(func.now()))).scalar_one()


async def add_access_token(
    session: AsyncSession, *, jti: str, customer_id: str, token_hash: str, expires_at: datetime
) -> None:
    session.add(
        AccessToken(jti=jti, customer_id=customer_id, token_hash=token_hash, expires_at=expires_at)
    )
    await session.flush()
