from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tenant_api.auth import AdminAuth
from tenant_api.dependencies import SessionDep
from tenant_api.reports import service
from tenant_api.reports.schemas import (
    MONTH_PATTERN,
    BurstsReport,
    HeavyUsersReport,
    MarginReport,
)
from tenant_api.schemas import AUTH_ERRORS

router = APIRouter(
    prefix="/v1/reports", tags=["reports"], dependencies=[AdminAuth], responses=AUTH_ERRORS
)

MonthQuery = Annotated[
    str | None,
    Query(pattern=MONTH_PATTERN, description="YYYY-MM (UTC); the current month if omitted"),
]


@router.get("/heavy-users", response_model=HeavyUsersReport)
async def heavy_users_report(
    session: SessionDep,
    month: MonthQuery = None,
    min_days_at_cap: Annotated[int, Query(ge=1, le=31)] = 15,
) -> HeavyUsersReport:
    month_start = await service.resolve_month(session, month)
    return await service.heavy_users(session, month_start, min_days_at_cap=min_days_at_cap)


@router.get("/margin", response_model=MarginReport)
async def margin_report(session: SessionDep, month: MonthQuery = None) -> MarginReport:
    return await service.margin(session, await service.resolve_month(session, month))


@router.get("/bursts", response_model=BurstsReport)
async def bursts_report(session: SessionDep, month: MonthQuery = None) -> BurstsReport:
    return await service.bursts(session, await service.resolve_month(session, month))
