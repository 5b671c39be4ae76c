"""Management routes (primary key): agents, keys and policies."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from saturn_local.agents.repository import AgentRow, AgentSpendRow, PolicyRow
from saturn_local.agents.schemas import AgentCreate, AgentUpdate, PolicyPatch
from saturn_local.deps import PrimaryAgent, ServicesDep
from saturn_local.errors import ERROR_RESPONSES
from saturn_local.wire import iso, micros_to_cents_ceil, micros_to_sats_ceil

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)


def agent_out(agent: AgentRow) -> dict[str, Any]:
    return {
        "id": agent.id,
        "accountId": agent.account_id,
        "name": agent.name,
        "email": None,
        "role": agent.role,
        "status": agent.status,
        "metadata": agent.metadata,
        "createdAt": iso(agent.created_at),
        "updatedAt": iso(agent.updated_at),
    }


def policy_out(policy: PolicyRow) -> dict[str, Any]:
    return {
        "id": policy.id,
        "agentId": policy.agent_id,
        "maxPerCallSats": micros_to_sats_ceil(policy.max_per_call_usd_micros),
        "maxPerDaySats": micros_to_sats_ceil(policy.max_per_day_usd_micros),
        "allowedServices": None,
        "deniedServices": None,
        "allowedCapabilities": None,
        "deniedCapabilities": None,
        "killSwitch": policy.kill_switch,
        "maxBalanceSats": None,
        "createdAt": iso(policy.created_at),
        "updatedAt": iso(policy.updated_at),
        "maxPerCallUsdCents": micros_to_cents_ceil(policy.max_per_call_usd_micros),
        "maxPerDayUsdCents": micros_to_cents_ceil(policy.max_per_day_usd_micros),
        "maxBalanceUsdCents": None,
    }


def spend_out(row: AgentSpendRow) -> dict[str, Any]:
    out = agent_out(row.agent)
    del out["accountId"], out["email"]
    out.update(
        balanceSats=0,
        heldSats=micros_to_sats_ceil(row.today_held_usd_micros),
        balanceUsdCents=0,
        heldUsdCents=micros_to_cents_ceil(row.today_held_usd_micros),
        lifetimeOut=micros_to_sats_ceil(row.lifetime_spent_usd_micros),
        lifetimeOutUsdCents=micros_to_cents_ceil(row.lifetime_spent_usd_micros),
        todaySpendSats=micros_to_sats_ceil(row.today_spent_usd_micros),
        todaySpendUsdCents=micros_to_cents_ceil(row.today_spent_usd_micros),
        totalCalls=row.total_calls,
    )
    return out


@router.post("/agents", status_code=201)
async def create_agent(
    body: AgentCreate, caller: PrimaryAgent, services: ServicesDep
) -> dict[str, Any]:
    created = await services.agents.create(caller, body)
    assert created.policy is not None
    return {
        **agent_out(created.agent),
        "apiKey": created.api_key,
        "policy": policy_out(created.policy),
    }


@router.get("/agents")
async def list_agents(caller: PrimaryAgent, services: ServicesDep) -> list[dict[str, Any]]:
    return [{**agent_out(a), "balanceSats": 0} for a in await services.agents.list_all(caller)]


@router.get("/agents/{agent_id}")
async def get_agent(agent_id: str, caller: PrimaryAgent, services: ServicesDep) -> dict[str, Any]:
    return {**agent_out(await services.agents.get(caller, agent_id)), "balanceSats": 0}


@router.patch("/agents/{agent_id}")
async def update_agent(
    agent_id: str, body: AgentUpdate, caller: PrimaryAgent, services: ServicesDep
) -> dict[str, Any]:
    return agent_out(await services.agents.update(caller, agent_id, body))


@router.delete("/agents/{agent_id}", status_code=204)
async def delete_agent(agent_id: str, caller: PrimaryAgent, services: ServicesDep) -> Response:
    await services.agents.delete(caller, agent_id)
    return Response(status_code=204)


@router.post("/agents/{agent_id}/regenerate")
async def regenerate_key(
    agent_id: str, caller: PrimaryAgent, services: ServicesDep
) -> dict[str, Any]:
    created = await services.agents.regenerate(caller, agent_id)
    return {**agent_out(created.agent), "apiKey": created.api_key}


@router.get("/agents/{agent_id}/policy")
async def get_policy(agent_id: str, caller: PrimaryAgent, services: ServicesDep) -> dict[str, Any]:
    return policy_out(await services.agents.get_policy(caller, agent_id))


@router.patch("/agents/{agent_id}/policy")
async def update_policy(
    agent_id: str, body: PolicyPatch, caller: PrimaryAgent, services: ServicesDep
) -> dict[str, Any]:
    return policy_out(await services.agents.update_policy(caller, agent_id, body))


@router.get("/admin/agents")
async def admin_agents(caller: PrimaryAgent, services: ServicesDep) -> list[dict[str, Any]]:
    return [spend_out(row) for row in await services.agents.spend(caller)]
