"""Direct access to the ledger for tests below the HTTP layer."""

from __future__ import annotations

import asyncpg

from saturn_local.ids import hash_key, new_agent_key, new_id
from saturn_local.ledger.repository import HoldRequest

TEST_CLOCK_SQL = "(SELECT t FROM test_clock)"


async def make_agent(
    pool: asyncpg.Pool, *, cap_micros: int | None, per_call_micros: int | None = None
) -> str:
    await pool.execute(
        "INSERT INTO accounts (id, name) VALUES ('acc_test', 'test') ON CONFLICT DO NOTHING"
    )
    agent_id = new_id("agt")
    await pool.execute(
        "INSERT INTO agents (id, account_id, name, role, key_hash)"
        " VALUES ($1, (SELECT id FROM accounts), 'a', 'worker', $2)",
        agent_id,
        hash_key(new_agent_key()),
    )
    await pool.execute(
        "INSERT INTO policies (id, agent_id, max_per_day_usd_micros, max_per_call_usd_micros)"
        " VALUES ($1, $2, $3, $4)",
        new_id("pol"),
        agent_id,
        cap_micros,
        per_call_micros,
    )
    return agent_id


def hold_request(agent_id: str, amount: int, receipt_id: str | None = None) -> HoldRequest:
    return HoldRequest(
        receipt_id=receipt_id or new_id("aud"),
        agent_id=agent_id,
        hold_usd_micros=amount,
        model="offline-extractive-1",
        price_version=1,
        provider="offline",
        input_tokens=1,
        max_tokens=1,
    )


async def install_test_clock(pool: asyncpg.Pool, at: str) -> None:
    await pool.execute("CREATE TABLE IF NOT EXISTS test_clock (t timestamptz NOT NULL)")
    await pool.execute("DELETE FROM test_clock")
    await pool.execute("INSERT INTO test_clock VALUES ($1::text::timestamptz)", at)


async def set_clock(pool: asyncpg.Pool, at: str) -> None:
    await pool.execute("UPDATE test_clock SET t = $1::text::timestamptz", at)


async def totals(pool: asyncpg.Pool, agent_id: str) -> tuple[int, int]:
    row = await pool.fetchrow(
        "SELECT COALESCE(sum(spent_usd_micros), 0)::bigint AS spent,"
        " COALESCE(sum(held_usd_micros), 0)::bigint AS held"
        " FROM ledger_day_figures WHERE agent_id = $1",
        agent_id,
    )
    assert row is not None
    return row["spent"], row["held"]


async def settled_sum(pool: asyncpg.Pool, agent_id: str) -> int:
    value: int = await pool.fetchval(
        "SELECT COALESCE(sum(charged_usd_micros), 0)::bigint FROM receipts"
        " WHERE agent_id = $1 AND status = 'settled'",
        agent_id,
    )
    return value
