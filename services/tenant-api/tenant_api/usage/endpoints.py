from __future__ import annotations

from fastapi import APIRouter

from tenant_api.auth import AdminAuth, ServiceAuth
from tenant_api.dependencies import ContextDep
from tenant_api.schemas import AUTH_ERRORS, error_responses
from tenant_api.usage.schemas import UsageEventBatch, UsageEventsAccepted, UsageRead
from tenant_api.usage.service import UsageService

router = APIRouter(tags=["usage"], dependencies=[AdminAuth], responses=AUTH_ERRORS)
internal_router = APIRouter(tags=["internal"], dependencies=[ServiceAuth], responses=AUTH_ERRORS)


@router.get(
    "/v1/customers/{customer_id}/usage", response_model=UsageRead, responses=error_responses(404)
)
async def customer_usage(customer_id: str, context: ContextDep) -> UsageRead:
    return await UsageService(context).usage(customer_id)


@internal_router.get(
    "/internal/v1/customers/{customer_id}/usage",
    response_model=UsageRead,
    responses=error_responses(404),
)
async def customer_usage_internal(customer_id: str, context: ContextDep) -> UsageRead:
    return await UsageService(context).usage(customer_id)


@internal_router.post("/internal/v1/usage-events", response_model=UsageEventsAccepted)
async def record_usage_events(body: UsageEventBatch, context: ContextDep) -> UsageEventsAccepted:
    return await UsageService(context).record(body)
