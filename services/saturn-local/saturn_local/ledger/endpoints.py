"""The agent-key capability route and the usage extension."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response

from saturn_local.deps import CurrentAgent, PrimaryAgent, ServicesDep
from saturn_local.errors import ERROR_RESPONSES
from saturn_local.ledger.service import MAX_TOKENS_LIMIT
from saturn_local.wire import micros_to_cents_ceil

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)

_MAX_TOKENS = {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_TOKENS_LIMIT}
# The route parses its body by hand (as the real server's SDK sends it, see
# parse_reason_body); this documents that body for clients and contract tests.
REASON_BODY: dict[str, Any] = {
    "type": "object",
    "properties": {
        "prompt": {"type": ["string", "null"], "pattern": r"\S"},
        "messages": {
            "type": ["array", "null"],
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["role", "content"],
                "properties": {
                    "role": {"enum": ["system", "user", "assistant"]},
                    "content": {"type": "string"},
                },
            },
        },
        "model": {"type": ["string", "null"], "minLength": 1},
        "max_tokens": _MAX_TOKENS,
        "maxTokens": _MAX_TOKENS,
        "temperature": {"type": ["number", "null"], "minimum": 0, "maximum": 2},
    },
    "anyOf": [
        {"required": ["prompt"], "properties": {"prompt": {"type": "string"}}},
        {"required": ["messages"], "properties": {"messages": {"type": "array"}}},
    ],
}


@router.post(
    "/capabilities/reason",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": REASON_BODY}}}
    },
)
async def reason(
    request: Request,
    agent: CurrentAgent,
    services: ServicesDep,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> Response:
    raw = await request.body()
    result = await services.reason.reason(agent, raw, idempotency_key)
    return Response(
        content=result.body,
        status_code=result.status,
        headers=result.headers,
        media_type="application/json",
    )


@router.get("/agents/{agent_id}/usage")
async def agent_usage(
    agent_id: str,
    caller: PrimaryAgent,
    services: ServicesDep,
    days: Annotated[int, Query(ge=1, le=366)] = 31,
) -> dict[str, Any]:
    agent = await services.agents.get(caller, agent_id)
    rows = await services.reason.ledger.usage(agent.id, days)
    return {
        "agentId": agent.id,
        "days": [
            {
                "date": row.day.isoformat(),
                "spentUsdMicros": row.spent_usd_micros,
                "heldUsdMicros": row.held_usd_micros,
                "capUsdCents": micros_to_cents_ceil(row.cap_usd_micros),
                "calls": row.calls,
                "deniedCalls": row.denied_calls,
                "atCap": row.at_cap,
            }
            for row in rows
        ],
    }
