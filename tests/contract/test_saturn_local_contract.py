"""A4 for saturn-local: every operation of its OpenAPI, fuzzed with the primary key, an agent
key, an unknown key and no key, against a real database and the offline model: never a 5xx,
every response as documented, every error in Saturn's own envelope."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import httpx
import pytest

from saturn_local.main import create_app
from tests.contract.harness import Target, load_operations, run_fuzz, saturn_envelope
from tests.saturn_local.conftest import BOOTSTRAP_KEY, PRIMARY, make_settings

# CONTRACT_MAX_EXAMPLES=200 for a deeper local hunt; CI keeps the suite fast.
MAX_EXAMPLES = int(os.environ.get("CONTRACT_MAX_EXAMPLES", "20"))
UNKNOWN_KEY = "sk_agt_" + "cd" * 32

OPERATIONS = load_operations(create_app(make_settings("postgresql://unused/unused")).openapi())


@pytest.fixture
async def saturn_http(saturn_db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(saturn_db_url))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://saturn",
        ) as http,
    ):
        yield http


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize("label", sorted(OPERATIONS))
async def test_saturn_local_operation(label: str, saturn_http: httpx.AsyncClient) -> None:
    resp = await saturn_http.post("/v1/agents", json={"name": "contract"}, headers=PRIMARY)
    assert resp.status_code == 201, resp.text
    agent_id, agent_key = resp.json()["id"], resp.json()["apiKey"]
    resp = await saturn_http.patch(
        f"/v1/agents/{agent_id}/policy",
        json={"maxPerCallUsdCents": 100, "maxPerDayUsdCents": 1000},
        headers=PRIMARY,
    )
    assert resp.status_code == 200, resp.text
    agent_route = label == "POST /v1/capabilities/reason"
    target = Target(
        http=saturn_http,
        loop=asyncio.get_running_loop(),
        auth={
            "valid": _bearer(agent_key if agent_route else BOOTSTRAP_KEY),
            # An agent key on a primary route; a well-formed key nobody holds on the agent route.
            "wrong": _bearer(UNKNOWN_KEY if agent_route else agent_key),
            "none": {},
        },
        envelope=saturn_envelope,
        known_ids={"agent_id": [agent_id]},
    )
    await run_fuzz(OPERATIONS[label], target, MAX_EXAMPLES)
    assert target.seen, "no request was sent"
