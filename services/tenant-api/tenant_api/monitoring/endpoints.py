from __future__ import annotations

from fastapi import APIRouter

from tenant_api.auth import ServiceAuth
from tenant_api.dependencies import ContextDep
from tenant_api.monitoring.burst import BurstService
from tenant_api.monitoring.schemas import BurstResult

internal_router = APIRouter(
    prefix="/internal/v1/customers", tags=["internal"], dependencies=[ServiceAuth]
)


@internal_router.post("/{customer_id}/burst", response_model=BurstResult)
async def request_burst(customer_id: str, context: ContextDep) -> BurstResult:
    return await BurstService(context).request_burst(customer_id)
