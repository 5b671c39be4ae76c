"""The ledger against real Postgres: bursts (B1-B3), per-call cap (B4), release (B5),
exactly-once resolution, expiry, the UTC day (T1) and a connection killed mid-reserve (F4)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from copilot_kit.db import asyncpg_connect_args
from saturn_local.ledger.repository import Denial, Hold, Ledger
from tests.saturn_local.ledger_helpers import (
    TEST_CLOCK_SQL,
    hold_request,
    install_test_clock,
    make_agent,
    set_clock,
    settled_sum,
    totals,
)


@pytest.fixture
async def wide_pool(saturn_db_url: str) -> AsyncIterator[asyncpg.Pool]:
    """Enough connections that every reserve of a burst is really in flight at once."""
    pool = await asyncpg.create_pool(
        **asyncpg_connect_args(saturn_db_url), min_size=20, max_size=20
    )
    yield pool
    await pool.close()


async def _burst(ledger: Ledger, agent_id: str, n: int, cost: int) -> tuple[int, int, int]:
    provider_calls = 0
    start = asyncio.Event()

    async def one() -> bool:
        nonlocal provider_calls
        await start.wait()
        result = await ledger.reserve(hold_request(agent_id, cost))
        if not isinstance(result, Hold):
            assert isinstance(result, Denial)
            assert result.reason == "daily_limit_exceeded"
            return False
        provider_calls += 1
        await asyncio.sleep(0.005)
        resolution = await ledger.settle(
            result.receipt_id, charged_usd_micros=cost, input_tokens=1, output_tokens=1
        )
        assert resolution is not None
        return True

    tasks = [asyncio.create_task(one()) for _ in range(n)]
    await asyncio.sleep(0)
    start.set()
    results = await asyncio.gather(*tasks)
    return sum(results), len(results) - sum(results), provider_calls


@pytest.mark.parametrize("day_row_exists", [True, False], ids=["B1", "B3-no-day-row"])
async def test_burst_of_50_never_overshoots(wide_pool: asyncpg.Pool, day_row_exists: bool) -> None:
    ledger = Ledger(wide_pool)
    agent_id = await make_agent(wide_pool, cap_micros=100)
    if day_row_exists:
        # A settled zero-cost call creates today's row beforehand.
        hold = await ledger.reserve(hold_request(agent_id, 0))
        assert isinstance(hold, Hold)
        await ledger.settle(hold.receipt_id, charged_usd_micros=0, input_tokens=0, output_tokens=0)
    assert (await wide_pool.fetchval("SELECT count(*) FROM ledger_days")) == int(day_row_exists)

    ok, denied, provider_calls = await _burst(ledger, agent_id, 50, 7)

    assert (ok, denied, provider_calls) == (14, 36, 14)
    assert await totals(wide_pool, agent_id) == (98, 0)
    assert await settled_sum(wide_pool, agent_id) == 98
    denials = await wide_pool.fetchval(
        "SELECT denied_calls FROM ledger_days WHERE agent_id = $1", agent_id
    )
    assert denials == 36


async def test_b2_twenty_concurrent_holds_of_75_against_500(wide_pool: asyncpg.Pool) -> None:
    ledger = Ledger(wide_pool)
    agent_id = await make_agent(wide_pool, cap_micros=500)
    results = await asyncio.gather(*(ledger.reserve(hold_request(agent_id, 75)) for _ in range(20)))
    granted = [r for r in results if isinstance(r, Hold)]
    assert len(granted) == 6
    assert await totals(wide_pool, agent_id) == (0, 450)
    held_rows = await wide_pool.fetchval(
        "SELECT count(*) FROM receipts WHERE agent_id = $1 AND status = 'held'", agent_id
    )
    assert held_rows == 6
    for hold in granted:
        await ledger.void(hold.receipt_id, outcome="test")
    assert await totals(wide_pool, agent_id) == (0, 0)


async def test_b4_per_call_cap_refuses_before_any_hold(pool: asyncpg.Pool) -> None:
    ledger = Ledger(pool)
    agent_id = await make_agent(pool, cap_micros=1000, per_call_micros=40)
    result = await ledger.reserve(hold_request(agent_id, 41))
    assert isinstance(result, Denial)
    assert result.reason == "per_call_limit_exceeded"
    assert await totals(pool, agent_id) == (0, 0)
    assert isinstance(await ledger.reserve(hold_request(agent_id, 40)), Hold)  # equal passes


async def test_b5_settle_below_hold_releases_the_rest_at_once(pool: asyncpg.Pool) -> None:
    ledger = Ledger(pool)
    agent_id = await make_agent(pool, cap_micros=100)
    hold = await ledger.reserve(hold_request(agent_id, 80))
    assert isinstance(hold, Hold)
    assert isinstance(await ledger.reserve(hold_request(agent_id, 70)), Denial)
    resolution = await ledger.settle(
        hold.receipt_id, charged_usd_micros=30, input_tokens=1, output_tokens=1
    )
    assert resolution is not None
    assert resolution.charged_usd_micros == 30
    assert await totals(pool, agent_id) == (30, 0)
    second = await ledger.reserve(hold_request(agent_id, 70))
    assert isinstance(second, Hold)
    assert (second.spent_usd_micros, second.held_usd_micros) == (30, 70)


async def test_settle_never_charges_above_the_hold_and_resolves_once(pool: asyncpg.Pool) -> None:
    ledger = Ledger(pool)
    agent_id = await make_agent(pool, cap_micros=100)
    hold = await ledger.reserve(hold_request(agent_id, 10))
    assert isinstance(hold, Hold)
    first = await ledger.settle(
        hold.receipt_id, charged_usd_micros=999, input_tokens=1, output_tokens=1
    )
    assert first is not None
    assert first.charged_usd_micros == 10
    again = await ledger.settle(
        hold.receipt_id, charged_usd_micros=5, input_tokens=1, output_tokens=1
    )
    assert again is None
    assert await ledger.void(hold.receipt_id, outcome="late") is None
    assert await totals(pool, agent_id) == (10, 0)


async def test_concurrent_settle_void_and_sweep_resolve_a_hold_exactly_once(
    wide_pool: asyncpg.Pool,
) -> None:
    await install_test_clock(wide_pool, "2030-01-01 12:00:00+00")
    ledger = Ledger(wide_pool, now_sql=TEST_CLOCK_SQL, hold_ttl_seconds=1)
    agent_id = await make_agent(wide_pool, cap_micros=10_000)
    holds = [await ledger.reserve(hold_request(agent_id, 100)) for _ in range(10)]
    await set_clock(wide_pool, "2030-01-01 12:00:05+00")
    calls = []
    for h in holds:
        assert isinstance(h, Hold)
        calls.append(
            ledger.settle(h.receipt_id, charged_usd_micros=60, input_tokens=1, output_tokens=1)
        )
        calls.append(ledger.void(h.receipt_id, outcome="race"))
    results = await asyncio.gather(*calls, ledger.sweep(), ledger.sweep())
    resolved = [r for r in results[:-2] if r is not None]
    swept = sum(r for r in results[-2:] if isinstance(r, int))
    assert len(resolved) + swept == 10
    spent, held = await totals(wide_pool, agent_id)
    assert held == 0
    assert spent == await settled_sum(wide_pool, agent_id)


async def test_sweeper_voids_expired_holds_only(pool: asyncpg.Pool) -> None:
    await install_test_clock(pool, "2030-01-01 12:00:00+00")
    ledger = Ledger(pool, now_sql=TEST_CLOCK_SQL, hold_ttl_seconds=30)
    agent_id = await make_agent(pool, cap_micros=100)
    old = await ledger.reserve(hold_request(agent_id, 40))
    await set_clock(pool, "2030-01-01 12:00:20+00")
    young = await ledger.reserve(hold_request(agent_id, 40))
    assert isinstance(old, Hold)
    assert isinstance(young, Hold)
    await set_clock(pool, "2030-01-01 12:00:31+00")
    assert await ledger.sweep() == 1
    assert await ledger.sweep() == 0
    assert await totals(pool, agent_id) == (0, 40)
    # The late settle of the expired hold changes nothing.
    assert (
        await ledger.settle(old.receipt_id, charged_usd_micros=40, input_tokens=1, output_tokens=1)
        is None
    )
    outcome = await pool.fetchval("SELECT outcome FROM receipts WHERE id = $1", old.receipt_id)
    assert outcome == "expired"


async def test_t1_calls_straddling_midnight_count_in_exactly_one_day(pool: asyncpg.Pool) -> None:
    await install_test_clock(pool, "2030-01-01 23:59:59.999+00")
    ledger = Ledger(pool, now_sql=TEST_CLOCK_SQL)
    agent_id = await make_agent(pool, cap_micros=100)
    before = await ledger.reserve(hold_request(agent_id, 60))
    assert isinstance(before, Hold)
    denied = await ledger.reserve(hold_request(agent_id, 60))
    assert isinstance(denied, Denial)
    assert denied.resets_at.isoformat() == "2030-01-02T00:00:00+00:00"

    await set_clock(pool, "2030-01-02 00:00:00+00")
    after = await ledger.reserve(hold_request(agent_id, 100))  # the whole cap: a new day at 0
    assert isinstance(after, Hold)
    assert (after.spent_usd_micros, after.held_usd_micros) == (0, 100)
    # The first call finishes after midnight but belongs to the day of its hold.
    await ledger.settle(before.receipt_id, charged_usd_micros=50, input_tokens=1, output_tokens=1)
    await ledger.settle(after.receipt_id, charged_usd_micros=100, input_tokens=1, output_tokens=1)
    rows = await pool.fetch(
        "SELECT day::text, spent_usd_micros, held_usd_micros FROM ledger_day_figures"
        " WHERE agent_id = $1 ORDER BY day",
        agent_id,
    )
    assert [tuple(r) for r in rows] == [("2030-01-01", 50, 0), ("2030-01-02", 100, 0)]
    usage = await ledger.usage(agent_id, 3)
    assert [(u.day.isoformat(), u.spent_usd_micros, u.at_cap) for u in usage] == [
        ("2030-01-02", 100, True),
        ("2030-01-01", 50, True),
        ("2029-12-31", 0, False),
    ]


async def test_policy_change_applies_to_the_very_next_reserve(pool: asyncpg.Pool) -> None:
    ledger = Ledger(pool)
    agent_id = await make_agent(pool, cap_micros=100)
    first = await ledger.reserve(hold_request(agent_id, 100))
    assert isinstance(first, Hold)
    assert isinstance(await ledger.reserve(hold_request(agent_id, 1)), Denial)
    await pool.execute(
        "UPDATE policies SET max_per_day_usd_micros = 150 WHERE agent_id = $1", agent_id
    )
    assert isinstance(await ledger.reserve(hold_request(agent_id, 50)), Hold)
    await pool.execute("UPDATE policies SET kill_switch = true WHERE agent_id = $1", agent_id)
    killed = await ledger.reserve(hold_request(agent_id, 0))
    assert isinstance(killed, Denial)
    assert killed.reason == "kill_switch_active"


async def test_f4_connection_killed_mid_reserve_leaves_no_hold(
    pool: asyncpg.Pool, saturn_db_url: str
) -> None:
    agent_id = await make_agent(pool, cap_micros=1000)
    ledger_pool = await asyncpg.create_pool(
        **asyncpg_connect_args(saturn_db_url), min_size=1, max_size=1
    )
    ledger = Ledger(ledger_pool)
    try:
        # Prime today's row, then hold its lock so the next reserve blocks inside Postgres.
        prime = await ledger.reserve(hold_request(agent_id, 0))
        assert isinstance(prime, Hold)
        await ledger.void(prime.receipt_id, outcome="prime")
        blocker = await asyncpg.connect(**asyncpg_connect_args(saturn_db_url))
        try:
            tx = blocker.transaction()
            await tx.start()
            await blocker.execute(
                "SELECT 1 FROM ledger_days WHERE agent_id = $1 FOR UPDATE", agent_id
            )
            request = hold_request(agent_id, 100)
            reserving = asyncio.create_task(ledger.reserve(request))
            pid = None
            for _ in range(200):
                pid = await pool.fetchval(
                    "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND query LIKE '%INSERT INTO ledger_days%' AND datname = current_database()"
                )
                if pid:
                    break
                await asyncio.sleep(0.01)
            assert pid is not None
            await pool.execute("SELECT pg_terminate_backend($1)", pid)
            with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, OSError)):
                await reserving
            await tx.rollback()
        finally:
            await blocker.close()
        # The caller was told "failed": no hold, no receipt, nothing held.
        assert await totals(pool, agent_id) == (0, 0)
        assert (
            await pool.fetchval("SELECT count(*) FROM receipts WHERE id = $1", request.receipt_id)
            == 0
        )
        # The ledger keeps working on a fresh connection.
        assert isinstance(await ledger.reserve(hold_request(agent_id, 100)), Hold)
    finally:
        await ledger_pool.close()
