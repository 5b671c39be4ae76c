from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response

from tenant_api.auth import AdminAuth, ServiceAuth
from tenant_api.customers.schemas import (
    EXTERNAL_ID_PATTERN,
    MAX_LIMIT,
    AccessTokenCreate,
    AccessTokenRead,
    AgentResolution,
    CustomerCreate,
    CustomerList,
    CustomerRead,
    CustomerStatusOut,
    CustomerUpdate,
)
from tenant_api.customers.service import CustomerService
from tenant_api.dependencies import ContextDep, SessionDep
from tenant_api.plans.schemas import TIER_PATTERN
from tenant_api.schemas import AUTH_ERRORS, error_responses

router = APIRouter(
    prefix="/v1/customers", tags=["customers"], dependencies=[AdminAuth], responses=AUTH_ERRORS
)
internal_router = APIRouter(
    prefix="/internal/v1/customers",
    tags=["internal"],
    dependencies=[ServiceAuth],
    responses=AUTH_ERRORS,
)


@router.post(
    "",
    response_model=CustomerRead,
    status_code=201,
    responses={
        200: {"model": CustomerRead, "description": "The same signup again: the customer"},
        **error_responses(409, 503),
    },
)
async def sign_up(body: CustomerCreate, context: ContextDep, response: Response) -> CustomerRead:
    customer, created = await CustomerService(context).signup(body)
    response.status_code = 201 if created else 200
    return CustomerRead.model_validate(customer)


@router.get("", response_model=CustomerList)
async def list_customers(
    context: ContextDep,
    session: SessionDep,
    plan: Annotated[str | None, Query(pattern=TIER_PATTERN)] = None,
    status: CustomerStatusOut | None = None,
    external_id: Annotated[str | None, Query(pattern=EXTERNAL_ID_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    cursor: Annotated[str | None, Query(min_length=1, max_length=500)] = None,
) -> CustomerList:
    page, next_cursor = await CustomerService(context).list(
        session,
        plan=plan,
        status=status,
        external_id=external_id,
        limit=limit,
        cursor=cursor,
    )
    return CustomerList(
        data=[CustomerRead.model_validate(c) for c in page], next_cursor=next_cursor
    )


@router.get("/{customer_id}", response_model=CustomerRead, responses=error_responses(404))
async def get_customer(customer_id: str, context: ContextDep, session: SessionDep) -> CustomerRead:
    return CustomerRead.model_validate(await CustomerService(context).get(session, customer_id))


@router.patch(
    "/{customer_id}", response_model=CustomerRead, responses=error_responses(404, 409, 503)
)
async def update_customer(
    customer_id: str, body: CustomerUpdate, context: ContextDep
) -> CustomerRead:
    return CustomerRead.model_validate(await CustomerService(context).update(customer_id, body))


@router.post(
    "/{customer_id}/churn", response_model=CustomerRead, responses=error_responses(404, 409, 503)
)
async def churn_customer(customer_id: str, context: ContextDep) -> CustomerRead:
    return CustomerRead.model_validate(await CustomerService(context).churn(customer_id))


@router.post(
    "/{customer_id}/access-tokens",
    response_model=AccessTokenRead,
    status_code=201,
    responses=error_responses(404, 409),
)
async def issue_access_token(
    customer_id: str,
    context: ContextDep,
    session: SessionDep,
    body: Annotated[AccessTokenCreate | None, Body()] = None,
) -> AccessTokenRead:
    return await CustomerService(context).issue_access_token(session, customer_id, body)


@internal_router.get(
    "/{customer_id}/agent", response_model=AgentResolution, responses=error_responses(404, 503)
)
async def resolve_agent(
    customer_id: str, context: ContextDep, session: SessionDep
) -> AgentResolution:
    return await CustomerService(context).resolve_agent(session, customer_id)
