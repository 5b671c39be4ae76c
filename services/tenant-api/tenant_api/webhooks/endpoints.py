from __future__ import annotations

from fastapi import APIRouter, Response

from tenant_api.auth import AdminAuth
from tenant_api.dependencies import ContextDep, SessionDep
from tenant_api.schemas import AUTH_ERRORS, error_responses
from tenant_api.webhooks.schemas import (
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointList,
    WebhookEndpointRead,
)
from tenant_api.webhooks.service import WebhookEndpointService

router = APIRouter(
    prefix="/v1/webhook-endpoints",
    tags=["webhooks"],
    dependencies=[AdminAuth],
    responses=AUTH_ERRORS,
)


@router.post("", response_model=WebhookEndpointCreated, status_code=201)
async def create_webhook_endpoint(
    body: WebhookEndpointCreate, context: ContextDep, session: SessionDep
) -> WebhookEndpointCreated:
    return await WebhookEndpointService(context.keyring).create(session, body)


@router.get("", response_model=WebhookEndpointList)
async def list_webhook_endpoints(context: ContextDep, session: SessionDep) -> WebhookEndpointList:
    return WebhookEndpointList(data=await WebhookEndpointService(context.keyring).list(session))


@router.get("/{endpoint_id}", response_model=WebhookEndpointRead, responses=error_responses(404))
async def get_webhook_endpoint(
    endpoint_id: str, context: ContextDep, session: SessionDep
) -> WebhookEndpointRead:
    return await WebhookEndpointService(context.keyring).get(session, endpoint_id)


@router.delete("/{endpoint_id}", status_code=204, responses=error_responses(404))
async def delete_webhook_endpoint(
    endpoint_id: str, context: ContextDep, session: SessionDep
) -> Response:
    await WebhookEndpointService(context.keyring).delete(session, endpoint_id)
    return Response(status_code=204)
