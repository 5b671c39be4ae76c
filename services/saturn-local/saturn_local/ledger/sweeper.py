"""Voids holds whose calls never came back (crashed process, lost task) once they expire."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from saturn_local.ledger.idempotency import RETENTION_SQL
from saturn_local.ledger.repository import Ledger

logger = logging.getLogger("saturn_local.sweeper")


async def sweep_once(ledger: Ledger, pool: asyncpg.Pool) -> int:
    voided = await ledger.sweep()
    await pool.execute(RETENTION_SQL)
    if voided:
        logger.info("voided %d expired holds", voided)
    return voided


async def run_sweeper(ledger: Ledger, pool: asyncpg.Pool, interval_seconds: float) -> None:
    while True:
        try:
            await sweep_once(ledger, pool)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            # Another process sweeping the same rows, or the database restarting: next tick.
            logger.warning("sweep failed: %s", type(exc).__name__)
        await asyncio.sleep(interval_seconds)
