"""Agent lifecycle, keys and policies: every business rule of the management routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from copilot_kit.money import MICROS_PER_CENT
from saturn_local.agents.repository import AgentRepository, AgentRow, AgentSpendRow, PolicyRow
from saturn_local.agents.schemas import AgentCreate, AgentUpdate, PolicyPatch
from saturn_local.errors import NotFound, ValidationFailed
from saturn_local.ids import hash_key, new_agent_key
from saturn_local.wire import MICROS_PER_SAT


@dataclass(frozen=True, slots=True)
class NewKey:
    agent: AgentRow
    api_key: str
    policy: PolicyRow | None = None


class AgentService:
    def __init__(self, repo: AgentRepository, *, default_daily_cap_usd_cents: int | None) -> None:
        self._repo = repo
        self._default_cap = (
            None
            if default_daily_cap_usd_cents is None
            else default_daily_cap_usd_cents * MICROS_PER_CENT
        )

    async def bootstrap(self, key: str) -> bool:
        return await self._repo.bootstrap(
            key_hash=hash_key(key), daily_cap_usd_micros=self._default_cap
        )

    async def create(self, caller: AgentRow, body: AgentCreate) -> NewKey:
        key = new_agent_key()
        agent, policy = await self._repo.create_worker(
            account_id=caller.account_id,
            name=body.name,
            metadata=body.metadata,
            key_hash=hash_key(key),
            daily_cap_usd_micros=self._default_cap,
        )
        return NewKey(agent=agent, api_key=key, policy=policy)

    async def list_all(self, caller: AgentRow) -> list[AgentRow]:
        return await self._repo.list_all(caller.account_id)

    async def get(self, caller: AgentRow, agent_id: str) -> AgentRow:
        agent = await self._repo.get(caller.account_id, agent_id)
        if agent is None:
            raise NotFound("Agent not found")
        return agent

    async def update(self, caller: AgentRow, agent_id: str, body: AgentUpdate) -> AgentRow:
        agent = await self.get(caller, agent_id)
        if body.status is not None and agent.status == "killed":
            raise ValidationFailed("A killed agent cannot be reactivated or suspended")
        if body.status == "suspended" and agent.role == "primary":
            raise ValidationFailed("The primary agent cannot be suspended")
        fields = body.model_fields_set
        updated = await self._repo.update(
            caller.account_id,
            agent_id,
            name=body.name if "name" in fields else None,
            set_metadata="metadata" in fields,
            metadata=body.metadata,
            status=body.status.value if body.status is not None else None,
        )
        if updated is None:
            raise NotFound("Agent not found")
        return updated

    async def regenerate(self, caller: AgentRow, agent_id: str) -> NewKey:
        agent = await self.get(caller, agent_id)
        if agent.status == "killed":
            raise ValidationFailed("Cannot regenerate the key of a killed agent")
        key = new_agent_key()
        updated = await self._repo.set_key_hash(caller.account_id, agent_id, hash_key(key))
        if updated is None:
            raise ValidationFailed("Cannot regenerate the key of a killed agent")
        return NewKey(agent=updated, api_key=key)

    async def delete(self, caller: AgentRow, agent_id: str) -> None:
        agent = await self.get(caller, agent_id)
        if agent.role == "primary":
            raise ValidationFailed("The primary agent cannot be deleted")
        await self._repo.kill(caller.account_id, agent_id)

    async def get_policy(self, caller: AgentRow, agent_id: str) -> PolicyRow:
        await self.get(caller, agent_id)
        policy = await self._repo.get_policy(agent_id)
        if policy is None:
            raise NotFound("Policy not found")
        return policy

    async def update_policy(self, caller: AgentRow, agent_id: str, body: PolicyPatch) -> PolicyRow:
        await self.get(caller, agent_id)
        fields = body.model_fields_set
        per_call = _cap_micros(
            fields,
            "max_per_call_usd_cents",
            body.max_per_call_usd_cents,
            "max_per_call_sats",
            body.max_per_call_sats,
        )
        per_day = _cap_micros(
            fields,
            "max_per_day_usd_cents",
            body.max_per_day_usd_cents,
            "max_per_day_sats",
            body.max_per_day_sats,
        )
        policy = await self._repo.update_policy(
            agent_id,
            set_per_call=per_call is not _UNSET,
            per_call_usd_micros=per_call if isinstance(per_call, int) else None,
            set_per_day=per_day is not _UNSET,
            per_day_usd_micros=per_day if isinstance(per_day, int) else None,
            kill_switch=body.kill_switch if "kill_switch" in fields else None,
        )
        if policy is None:
            raise NotFound("Policy not found")
        return policy

    async def spend(self, caller: AgentRow) -> list[AgentSpendRow]:
        return await self._repo.spend(caller.account_id)


_UNSET: Any = object()


def _cap_micros(
    fields: set[str], usd_name: str, usd: int | None, sats_name: str, sats: int | None
) -> Any:
    """The new cap in micros, None for "no limit", or _UNSET when the PATCH leaves it alone."""
    if usd_name in fields:
        return None if usd is None else usd * MICROS_PER_CENT
    if sats_name in fields:
        return None if sats is None else sats * MICROS_PER_SAT
    return _UNSET
