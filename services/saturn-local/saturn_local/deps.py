"""Request dependencies: the process-wide services and the calling agent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from saturn_local.agents.repository import AgentRepository, AgentRow
from saturn_local.errors import PolicyDenied, Unauthorized
from saturn_local.ids import hash_key, looks_like_key

if TYPE_CHECKING:
    from saturn_local.agents.service import AgentService
    from saturn_local.ledger.service import ReasonService


@dataclass
class Services:
    agents_repo: AgentRepository
    agents: AgentService
    reason: ReasonService


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def current_agent(request: Request, services: ServicesDep) -> AgentRow:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Missing or invalid Authorization header")
    if not looks_like_key(token):
        raise Unauthorized("Invalid API key")
    agent = await services.agents_repo.by_key_hash(hash_key(token))
    if agent is None:
        raise Unauthorized("Invalid API key")
    if agent.status != "active":
        raise Unauthorized(f"Agent is {agent.status}")
    return agent


async def primary_agent(agent: Annotated[AgentRow, Depends(current_agent)]) -> AgentRow:
    if agent.role != "primary":
        raise PolicyDenied("Primary agent key required")
    return agent


CurrentAgent = Annotated[AgentRow, Depends(current_agent)]
PrimaryAgent = Annotated[AgentRow, Depends(primary_agent)]
