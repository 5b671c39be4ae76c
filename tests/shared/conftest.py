"""Saturn client fixtures: a respx router standing in for the remote, shapes of the real server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx

from copilot_kit.saturn import client as client_module
from copilot_kit.saturn.client import SaturnClient

BASE_URL = "https://saturn.test"
PRIMARY_KEY = "sk_agt_" + "a" * 64
AGENT_KEY = "sk_agt_" + "b" * 64
AGENT_ID = "agt_01JN3Z8Q6Y5W4V3T2S1R0P9N8M"


def agent_json(
    agent_id: str = AGENT_ID, name: str = "customer-acme", status: str = "active"
) -> dict[str, Any]:
    """An agent exactly as the real server returns it (with the wallet's ``balanceSats``)."""
    return {
        "id": agent_id,
        "accountId": "acc_01JN3Z8Q6Y5W4V3T2S1R0P9N8A",
        "name": name,
        "email": None,
        "role": "worker",
        "status": status,
        "metadata": None,
        "createdAt": "2026-02-27T10:00:00.000Z",
        "updatedAt": "2026-02-27T10:00:00.000Z",
        "balanceSats": 125000,
    }


def policy_json(
    agent_id: str = AGENT_ID, per_call: int | None = 100, per_day: int | None = 500
) -> dict[str, Any]:
    """A policy row (sats columns) plus the USD fields the server derives on GET/PATCH."""
    return {
        "id": "pol_01JN3Z8Q6Y5W4V3T2S1R0P9N8P",
        "agentId": agent_id,
        "maxPerCallSats": 1053,
        "maxPerDaySats": 5263,
        "allowedServices": None,
        "deniedServices": None,
        "allowedCapabilities": None,
        "deniedCapabilities": None,
        "killSwitch": False,
        "maxBalanceSats": None,
        "createdAt": "2026-02-27T10:00:00.000Z",
        "updatedAt": "2026-02-27T10:00:01.000Z",
        "maxPerCallUsdCents": per_call,
        "maxPerDayUsdCents": per_day,
        "maxBalanceUsdCents": None,
    }


@pytest.fixture
def router() -> respx.Router:
    return respx.Router(base_url=BASE_URL, assert_all_called=False)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Backoff delays the client asked for; no real waiting."""
    delays: list[float] = []

    async def fake_sleep(delay: float) -> None:
        delays.append(delay)

    monkeypatch.setattr(client_module, "_sleep", fake_sleep)
    return delays


@pytest.fixture
async def saturn(router: respx.Router, sleeps: list[float]) -> AsyncIterator[SaturnClient]:
    client = SaturnClient(
        base_url=BASE_URL,
        api_key=PRIMARY_KEY,
        max_retries=2,
        transport=httpx.MockTransport(router.async_handler),
    )
    async with client:
        yield client
