"""Ledger throughput: reserve+settle pairs per second for one hot agent and spread over 1,000
agents, against a bare single-row ``UPDATE ... RETURNING`` loop on the same database in the
same run; then checks that no agent ever went over its cap.

    python bench/ledger.py [--seconds 3] [--workers 8]

Uses ``DATABASE_URL`` if set, else an embedded Postgres under ``.data/bench-pg``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "shared"), str(ROOT / "services" / "saturn-local")]

from copilot_kit.migrate import upgrade  # noqa: E402
from copilot_kit.pg import drop_database, ensure_database, start_embedded  # noqa: E402
from saturn_local.db import create_pool  # noqa: E402
from saturn_local.ids import hash_key, new_agent_key, new_id  # noqa: E402
from saturn_local.ledger.repository import Hold, HoldRequest, Ledger  # noqa: E402

COST = 7


async def _agents(pool: asyncpg.Pool, n: int, cap: int | None) -> list[str]:
    await pool.execute(
        "INSERT INTO accounts (id, name) VALUES ('acc_bench', 'bench') ON CONFLICT DO NOTHING"
    )
    ids = [new_id("agt") for _ in range(n)]
    await pool.executemany(
        "INSERT INTO agents (id, account_id, name, role, key_hash)"
        " VALUES ($1, (SELECT id FROM accounts), 'bench', 'worker', $2)",
        [(i, hash_key(new_agent_key())) for i in ids],
    )
    await pool.executemany(
        "INSERT INTO policies (id, agent_id, max_per_day_usd_micros) VALUES ($1, $2, $3)",
        [(new_id("pol"), i, cap) for i in ids],
    )
    return ids


async def _rate(seconds: float, workers: int, op: Callable[[], Awaitable[None]]) -> float:
    done = 0
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await op()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return done / (time.perf_counter() - started)


def _pair(ledger: Ledger, pick: Callable[[], str]) -> Callable[[], Awaitable[None]]:
    async def op() -> None:
        receipt_id = new_id("aud")
        result = await ledger.reserve(
            HoldRequest(receipt_id, pick(), COST, "offline-extractive-1", 1, "offline", 1, 1)
        )
        if isinstance(result, Hold):
            await ledger.settle(
                receipt_id, charged_usd_micros=COST, input_tokens=1, output_tokens=1
            )

    return op


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument(
        "--shards", type=int, default=None, help="resolution shards (default: the Ledger's)"
    )
    args = parser.parse_args()

    server = os.environ.get("DATABASE_URL") or start_embedded(
        ROOT / ".data" / "bench-pg", keep_running=False
    )
    await drop_database(server, "bench_ledger")
    url = await ensure_database(server, "bench_ledger")
    await upgrade(url, "saturn_local")
    pool = await create_pool(url, size=args.workers)
    try:
        ledger = (
            Ledger(pool) if args.shards is None else Ledger(pool, resolution_shards=args.shards)
        )
        await pool.execute("CREATE TABLE bench_counter (id int PRIMARY KEY, n bigint NOT NULL)")
        await pool.execute("INSERT INTO bench_counter VALUES (1, 0)")

        async def bare() -> None:
            await pool.fetchval("UPDATE bench_counter SET n = n + 1 WHERE id = 1 RETURNING n")

        hot = (await _agents(pool, 1, None))[0]
        spread = await _agents(pool, 1000, None)
        # Capped agents: the hot one and the spread ones run into their caps during the run.
        capped_hot = (await _agents(pool, 1, 700))[0]
        capped_spread = await _agents(pool, 100, 70)

        w, s = args.workers, args.seconds
        bare_rate = await _rate(s, w, bare)
        hot_rate = await _rate(s, w, _pair(ledger, lambda: hot))
        spread_rate = await _rate(s, w, _pair(ledger, lambda: random.choice(spread)))
        await _rate(1.0, w, _pair(ledger, lambda: capped_hot))
        await _rate(2.0, w, _pair(ledger, lambda: random.choice(capped_spread)))

        overshoot = await pool.fetchval(
            """
            SELECT count(*) FROM ledger_day_figures d JOIN policies p USING (agent_id)
             WHERE d.held_usd_micros <> 0
                OR d.spent_usd_micros + d.held_usd_micros > p.max_per_day_usd_micros
                OR d.spent_usd_micros <> (SELECT COALESCE(sum(charged_usd_micros), 0)
                                            FROM receipts r
                                           WHERE r.agent_id = d.agent_id AND r.day = d.day
                                             AND r.status = 'settled')
                OR d.committed_usd_micros <> (SELECT COALESCE(sum(quoted_usd_micros), 0)
                                                FROM receipts r
                                               WHERE r.agent_id = d.agent_id
                                                 AND r.day = d.day AND r.status <> 'denied')
            """
        )
        at_cap = await pool.fetchval(
            "SELECT count(*) FROM ledger_day_figures d JOIN policies p USING (agent_id)"
            " WHERE d.spent_usd_micros = p.max_per_day_usd_micros"
        )
        print(f"workers={w} seconds={s}")
        print(f"bare single-row UPDATE ... RETURNING: {bare_rate:8.0f} /s")
        print(
            f"reserve+settle, one hot agent:        {hot_rate:8.0f} pairs/s"
            f"  ratio {hot_rate / bare_rate:.2f}"
        )
        print(
            f"reserve+settle, 1,000 agents:         {spread_rate:8.0f} pairs/s"
            f"  ratio {spread_rate / bare_rate:.2f}"
        )
        print(f"capped agents exactly at cap: {at_cap}; rows over cap or inconsistent: {overshoot}")
        if overshoot:
            raise SystemExit("OVERSHOOT: the ledger went over a cap")
    finally:
        await pool.close()
        await drop_database(server, "bench_ledger")


if __name__ == "__main__":
    asyncio.run(main())
