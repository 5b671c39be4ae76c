from __future__ import annotations

from fastapi import APIRouter

from tenant_api.auth import ServiceAuth
from tenant_api.dependencies import ContextDep
from tenant_api.monitoring.burst import BurstService
from tenant_api.monitoring.schemas import BurstResult
from tenant_api.schemas import AUTH_ERRORS, error_responses

internal_router = APIRouter(
    prefix="/internal/v1/customers",
    tags=["internal"],
    dependencies=[ServiceAuth],
    responses=AUTH_ERRORS,
)


@internal_router.post(
    "/{customer_id}/burst", response_model=BurstResult, responses=error_responses(404, 503)
)
async def request_burst(customer_id: str, context: ContextDep) -> BurstResult:
    return await BurstService(context).request_burst(customer_id)
