"""The shared SaturnClient against a running saturn-local over real HTTP: every call the
project makes, and the typed errors it maps saturn-local's answers to."""

from __future__ import annotations

import pytest

from copilot_kit.saturn.client import SaturnClient
from copilot_kit.saturn.errors import (
    SaturnAuthError,
    SaturnIdempotencyConflict,
    SaturnKillSwitchActive,
    SaturnNotFound,
    SaturnPolicyDenied,
    SaturnValidationError,
)
from copilot_kit.saturn.models import AgentStatus, PolicyUpdate, ReasonRequest
from tests.saturn_local.conftest import BOOTSTRAP_KEY
from tests.saturn_local.server import run_server


async def test_client_round_trip(saturn_db_url: str) -> None:
    async with (
        run_server(saturn_db_url) as url,
        SaturnClient(base_url=url, api_key=BOOTSTRAP_KEY) as admin,
    ):
        assert await admin.health()
        agent = await admin.create_agent_with_caps(
            "customer-42", max_per_call_usd_cents=25, max_per_day_usd_cents=100
        )
        policy = await admin.get_policy(agent.id)
        assert (policy.max_per_call_usd_cents, policy.max_per_day_usd_cents) == (25, 100)
        assert (await admin.find_agent_by_name("customer-42")).id == agent.id  # type: ignore[union-attr]
        assert {a.id for a in await admin.list_agents()} >= {agent.id}

        result = await admin.reason(
            ReasonRequest(prompt="Spend guards keep budgets. Budgets reset daily.", max_tokens=30),
            api_key=agent.api_key,
            idempotency_key="order-1",
        )
        assert result.content
        assert result.receipt.charged_usd_micros is not None
        assert 0 < result.receipt.charged_usd_micros <= (result.receipt.quoted_usd_micros or 0)
        assert result.receipt.provider == "offline"
        assert result.receipt.spent_today_usd_micros == result.receipt.charged_usd_micros
        assert result.receipt.daily_cap_usd_micros == 1_000_000
        replay = await admin.reason(
            ReasonRequest(prompt="Spend guards keep budgets. Budgets reset daily.", max_tokens=30),
            api_key=agent.api_key,
            idempotency_key="order-1",
        )
        assert replay.receipt.idempotent_replay
        assert replay.receipt.audit_id == result.receipt.audit_id
        assert replay.receipt.spent_today_usd_micros is None
        with pytest.raises(SaturnIdempotencyConflict):
            await admin.reason(
                ReasonRequest(prompt="another body"),
                api_key=agent.api_key,
                idempotency_key="order-1",
            )

        usage = await admin.get_usage(agent.id, days=3)
        assert len(usage.days) == 3
        assert usage.days[0].spent_usd_micros == result.receipt.charged_usd_micros
        spend = {row.id: row for row in await admin.list_agent_spend()}
        assert spend[agent.id].total_calls == 1

        with pytest.raises(SaturnValidationError):
            await admin.reason(ReasonRequest(prompt="x", model="nope"), api_key=agent.api_key)
        async with SaturnClient(base_url=url, api_key=agent.api_key) as worker:
            with pytest.raises(SaturnPolicyDenied, match="Primary agent key required"):
                await worker.list_agents()

        await admin.update_policy(agent.id, PolicyUpdate(kill_switch=True))
        with pytest.raises(SaturnKillSwitchActive):
            await admin.reason(ReasonRequest(prompt="hello"), api_key=agent.api_key)
        await admin.update_policy(agent.id, PolicyUpdate(kill_switch=False))

        suspended = await admin.suspend_agent(agent.id)
        assert suspended.status is AgentStatus.SUSPENDED
        with pytest.raises(SaturnAuthError):
            await admin.reason(ReasonRequest(prompt="hello"), api_key=agent.api_key)
        await admin.activate_agent(agent.id)

        regenerated = await admin.regenerate_key(agent.id)
        with pytest.raises(SaturnAuthError):
            await admin.reason(ReasonRequest(prompt="hello"), api_key=agent.api_key)
        assert (
            await admin.reason(ReasonRequest(prompt="hello"), api_key=regenerated.api_key)
        ).content

        await admin.delete_agent(agent.id)
        assert (await admin.get_agent(agent.id)).status is AgentStatus.KILLED
        with pytest.raises(SaturnNotFound):
            await admin.get_agent("agt_missing")
