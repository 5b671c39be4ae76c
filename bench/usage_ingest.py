"""Cost of recording one 200-event usage batch (``UsageService.record``) for a customer with
no events today vs one with 50,000 events today: ingestion should not grow with the day.

    python bench/usage_ingest.py [--prior 50000] [--batch 200] [--runs 30]

Uses ``DATABASE_URL`` if set, else an embedded Postgres under ``.data/bench-pg``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any, cast

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "shared"), str(ROOT / "services" / "tenant-api")]

from copilot_kit.db import asyncpg_connect_args, make_engine, make_sessionmaker  # noqa: E402
from copilot_kit.migrate import upgrade  # noqa: E402
from copilot_kit.pg import drop_database, ensure_database, start_embedded  # noqa: E402
from tenant_api.context import AppContext  # noqa: E402
from tenant_api.usage.schemas import UsageEventBatch, UsageEventIn  # noqa: E402
from tenant_api.usage.service import UsageService  # noqa: E402


class _Context:
    """Just what ``UsageService.record`` uses."""

    def __init__(self, sessionmaker: Any) -> None:
        self.sessionmaker = sessionmaker


async def _customer(conn: asyncpg.Connection, customer_id: str, prior: int) -> None:
    await conn.execute(
        "INSERT INTO customers (id, external_id, name, plan_tier, status, agent_name, "
        "daily_cap_usd_cents, per_call_cap_usd_cents) "
        "VALUES ($1, $1, $1, 'enterprise', 'pending', $1, 10000000, 500)",
        customer_id,
    )
    if prior:
        await conn.execute(
            "INSERT INTO usage_events (customer_id, id, outcome, cost_usd_micros, input_tokens, "
            "output_tokens, model, occurred_at) "
            "SELECT $1, 'prior_' || n, 'ok', 1000, 10, 10, 'offline', "
            "date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' "
            "  + (n % 3600) * interval '1 second' "
            "FROM generate_series(1, $2) n",
            customer_id,
            prior,
        )
    await conn.execute("ANALYZE usage_events")


def _batch(customer_id: str, size: int) -> UsageEventBatch:
    return UsageEventBatch(
        events=[
            UsageEventIn(
                id="req_" + secrets.token_hex(8),
                customer_id=customer_id,
                outcome=cast(Any, "ok"),
                cost_usd_micros=1000,
                input_tokens=10,
                output_tokens=10,
                model="offline",
            )
            for _ in range(size)
        ]
    )


async def _time(service: UsageService, customer_id: str, size: int, runs: int) -> list[float]:
    for _ in range(3):  # warm the connection pool and plan caches
        await service.record(_batch(customer_id, size))
    timings = []
    for _ in range(runs):
        batch = _batch(customer_id, size)
        start = time.perf_counter()
        await service.record(batch)
        timings.append((time.perf_counter() - start) * 1000)
    return timings


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prior", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    server = os.environ.get("DATABASE_URL") or start_embedded(
        ROOT / ".data" / "bench-pg", keep_running=False
    )
    name = f"bench_usage_{os.getpid()}"
    url = await ensure_database(server, name)
    try:
        await upgrade(url, "tenant_api")
        conn = await asyncpg.connect(**asyncpg_connect_args(url))
        await _customer(conn, "cus_small", 0)
        await _customer(conn, "cus_whale", args.prior)
        await conn.close()
        engine = make_engine(url)
        service = UsageService(cast(AppContext, _Context(make_sessionmaker(engine))))
        for customer, prior in (("cus_small", 0), ("cus_whale", args.prior)):
            timings = await _time(service, customer, args.batch, args.runs)
            print(
                f"record() of {args.batch} events, {prior:>6} prior events today: "
                f"median {statistics.median(timings):6.1f} ms, "
                f"p90 {sorted(timings)[int(len(timings) * 0.9)]:6.1f} ms"
            )
        await engine.dispose()
    finally:
        await drop_database(server, name)


if __name__ == "__main__":
    asyncio.run(main())
