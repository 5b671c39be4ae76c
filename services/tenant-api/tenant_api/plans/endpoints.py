from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from tenant_api.auth import AdminAuth
from tenant_api.dependencies import ContextDep, SessionDep
from tenant_api.plans.schemas import TIER_PATTERN, PlanList, PlanRead, PlanUpsert
from tenant_api.plans.service import PlanService
from tenant_api.schemas import AUTH_ERRORS, error_responses

router = APIRouter(
    prefix="/v1/plans", tags=["plans"], dependencies=[AdminAuth], responses=AUTH_ERRORS
)


@router.get("", response_model=PlanList)
async def list_plans(context: ContextDep, session: SessionDep) -> PlanList:
    plans = await PlanService(context).list(session)
    return PlanList(data=[PlanRead.model_validate(p) for p in plans])


@router.put(
    "/{tier}",
    response_model=PlanRead,
    responses={
        201: {"model": PlanRead, "description": "A new plan"},
        **error_responses(409, 503),
    },
)
async def put_plan(
    tier: Annotated[str, Path(pattern=TIER_PATTERN)],
    body: PlanUpsert,
    context: ContextDep,
    response: Response,
) -> PlanRead:
    plan, created = await PlanService(context).upsert(tier, body)
    response.status_code = 201 if created else 200
    return PlanRead.model_validate(plan)
