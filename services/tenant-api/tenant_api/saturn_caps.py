"""Pushing caps to many agents at Saturn, all or nothing (best-effort rollback)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from copilot_kit.saturn.client import SaturnClient
from copilot_kit.saturn.errors import SaturnError
from tenant_api.errors import saturn_failure

logger = logging.getLogger("tenant_api.saturn_caps")

_CONCURRENCY = 8


@dataclass(frozen=True)
class CapTarget:
    customer_id: str
    agent_id: str
    old_daily_usd_cents: int
    old_per_call_usd_cents: int


async def push_caps(
    saturn: SaturnClient,
    targets: Sequence[CapTarget],
    *,
    daily_usd_cents: int,
    per_call_usd_cents: int,
    action: str,
) -> None:
    """Set the caps on every target's agent; if any fails, restore the ones already changed
    (best effort) and raise the 503 for ``action``."""
    semaphore = asyncio.Semaphore(_CONCURRENCY)

    async def apply(agent_id: str, daily: int, per_call: int) -> None:
        async with semaphore:
            await saturn.set_caps(
                agent_id, max_per_call_usd_cents=per_call, max_per_day_usd_cents=daily
            )

    results = await asyncio.gather(
        *(apply(t.agent_id, daily_usd_cents, per_call_usd_cents) for t in targets),
        return_exceptions=True,
    )
    failures = [r for r in results if isinstance(r, BaseException)]
    if not failures:
        return
    done = [t for t, r in zip(targets, results, strict=True) if not isinstance(r, BaseException)]
    reverts = await asyncio.gather(
        *(apply(t.agent_id, t.old_daily_usd_cents, t.old_per_call_usd_cents) for t in done),
        return_exceptions=True,
    )
    for target, outcome in zip(done, reverts, strict=True):
        if isinstance(outcome, BaseException):
            logger.error(
                "could not restore the caps of customer %s (agent %s) after a failed %s",
                target.customer_id,
                target.agent_id,
                action,
            )
    first = failures[0]
    if isinstance(first, SaturnError):
        raise saturn_failure(first, action) from first
    raise first
