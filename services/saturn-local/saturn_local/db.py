"""The asyncpg pool: the ledger is a handful of raw statements, so no ORM on the hot path."""

from __future__ import annotations

import asyncpg

from copilot_kit.db import asyncpg_connect_args


async def _no_reset(_: asyncpg.Connection) -> None:
    # Every use is a single statement or a closed transaction, so the default reset query
    # (15-25 % of throughput, see performance.md) buys nothing.
    return None


async def create_pool(url: str, *, size: int) -> asyncpg.Pool:
    pool: asyncpg.Pool = await asyncpg.create_pool(
        **asyncpg_connect_args(url),
        min_size=1,
        max_size=size,
        reset=_no_reset,
        server_settings={"application_name": "saturn-local", "timezone": "UTC"},
    )
    return pool
