"""B1-B3 against running servers over real HTTP, through the shared SaturnClient, with many
requests truly in flight at once; and with two server processes sharing one database."""

from __future__ import annotations

import asyncio
import itertools

import asyncpg
import pytest
from pydantic import SecretStr

from copilot_kit.saturn.client import SaturnClient
from copilot_kit.saturn.errors import SaturnDailyLimitExceeded, SaturnPerCallLimitExceeded
from copilot_kit.saturn.models import ReasonRequest
from tests.saturn_local.conftest import (
    BOOTSTRAP_KEY,
    FLAT7_MODEL,
    FLAT7_PROMPT,
    add_flat7,
    add_price,
)
from tests.saturn_local.ledger_helpers import settled_sum, totals
from tests.saturn_local.server import run_server

FLAT75_MODEL = "test-flat-75"
NO_PER_CALL = 10_000  # cents: far above any call here


async def _burst(
    clients: list[SaturnClient], key: SecretStr, n: int, model: str
) -> tuple[int, int]:
    request = ReasonRequest(prompt=FLAT7_PROMPT, model=model)
    rotation = itertools.cycle(clients)

    async def one(client: SaturnClient) -> bool:
        try:
            await client.reason(request, api_key=key)
        except SaturnDailyLimitExceeded:
            return False
        return True

    results = await asyncio.gather(*(one(next(rotation)) for _ in range(n)))
    return sum(results), n - sum(results)


async def _max_overlap(pool: asyncpg.Pool, agent_id: str) -> int:
    """How many provider calls of this agent were in flight at the same moment."""
    value: int = await pool.fetchval(
        """
        SELECT COALESCE(max(n), 0) FROM (
            SELECT (SELECT count(*) FROM receipts o
                     WHERE o.agent_id = r.agent_id AND o.status = 'settled'
                       AND o.created_at <= r.created_at AND o.resolved_at > r.created_at) AS n
              FROM receipts r WHERE r.agent_id = $1 AND r.status = 'settled'
        ) s
        """,
        agent_id,
    )
    return value


async def _check_b1(pool: asyncpg.Pool, agent_id: str, ok: int, denied: int) -> None:
    assert (ok, denied) == (14, 36)
    # The provider saw exactly the 14 calls that got a hold; none is left open.
    provider_calls = await pool.fetchval(
        "SELECT count(*) FROM receipts WHERE agent_id = $1 AND status <> 'denied'", agent_id
    )
    assert provider_calls == 14
    assert await totals(pool, agent_id) == (14 * 70_000, 0)
    assert await settled_sum(pool, agent_id) == 14 * 70_000


async def test_b1_b2_b3_over_http(saturn_db_url: str, pool: asyncpg.Pool) -> None:
    await add_flat7(pool)
    await add_price(pool, FLAT75_MODEL, input_per_million=75_000_000_000)
    async with (
        run_server(saturn_db_url, OFFLINE_LATENCY_MS="300") as url,
        SaturnClient(base_url=url, api_key=BOOTSTRAP_KEY, timeout=30) as client,
    ):
        # B3: a brand-new agent, no day row yet.
        fresh = await client.create_agent_with_caps(
            "b3", max_per_call_usd_cents=NO_PER_CALL, max_per_day_usd_cents=100
        )
        ok, denied = await _burst([client], fresh.api_key, 50, FLAT7_MODEL)
        await _check_b1(pool, fresh.id, ok, denied)
        assert await _max_overlap(pool, fresh.id) >= 5

        # B1: the day row already exists (a refused call created it).
        warm = await client.create_agent_with_caps(
            "b1", max_per_call_usd_cents=1, max_per_day_usd_cents=100
        )
        with pytest.raises(SaturnPerCallLimitExceeded) as refused:
            await client.reason(
                ReasonRequest(prompt=FLAT7_PROMPT, model=FLAT7_MODEL), api_key=warm.api_key
            )
        assert refused.value.quote_usd_micros == 70_000
        await client.set_caps(
            warm.id, max_per_call_usd_cents=NO_PER_CALL, max_per_day_usd_cents=100
        )
        assert await pool.fetchval("SELECT count(*) FROM ledger_days WHERE agent_id = $1", warm.id)
        ok, denied = await _burst([client], warm.api_key, 50, FLAT7_MODEL)
        await _check_b1(pool, warm.id, ok, denied)

        # B2: twenty calls holding 75 cents each against a $5 cap.
        b2 = await client.create_agent_with_caps(
            "b2", max_per_call_usd_cents=NO_PER_CALL, max_per_day_usd_cents=500
        )
        ok, denied = await _burst([client], b2.api_key, 20, FLAT75_MODEL)
        assert (ok, denied) == (6, 14)
        assert await totals(pool, b2.id) == (450 * 10_000, 0)

        usage = await client.get_usage(fresh.id, days=1)
        assert usage.days[0].spent_usd_micros == 980_000
        assert (usage.days[0].calls, usage.days[0].denied_calls) == (14, 36)
        assert usage.days[0].at_cap


async def test_b1_b3_with_two_server_processes(saturn_db_url: str, pool: asyncpg.Pool) -> None:
    await add_flat7(pool)
    async with (
        run_server(saturn_db_url, OFFLINE_LATENCY_MS="200") as url_a,
        run_server(saturn_db_url, OFFLINE_LATENCY_MS="200") as url_b,
        SaturnClient(base_url=url_a, api_key=BOOTSTRAP_KEY, timeout=30) as a,
        SaturnClient(base_url=url_b, api_key=BOOTSTRAP_KEY, timeout=30) as b,
    ):
        # Both processes bootstrapped against the same database: one account, one primary.
        assert await pool.fetchval("SELECT count(*) FROM accounts") == 1
        agent = await a.create_agent_with_caps(
            "two-procs", max_per_call_usd_cents=NO_PER_CALL, max_per_day_usd_cents=100
        )
        ok, denied = await _burst([a, b], agent.api_key, 50, FLAT7_MODEL)
        await _check_b1(pool, agent.id, ok, denied)
        # A policy change made through one process applies at once on the other.
        await a.set_caps(agent.id, max_per_call_usd_cents=NO_PER_CALL, max_per_day_usd_cents=105)
        result = await b.reason(
            ReasonRequest(prompt=FLAT7_PROMPT, model=FLAT7_MODEL), api_key=agent.api_key
        )
        assert result.receipt.charged_usd_micros == 70_000
