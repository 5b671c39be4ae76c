"""The versioned price table, cached in memory and re-read when a model is missing or stale."""

from __future__ import annotations

import time
from dataclasses import dataclass

import asyncpg

from copilot_kit.money import cost_micros

REFRESH_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Price:
    model: str
    version: int
    provider: str
    input_micros_per_million: int
    output_micros_per_million: int
    max_output_tokens: int

    def hold_micros(self, input_tokens: int, max_tokens: int) -> int:
        """Worst case: every input token plus ``max_tokens`` of output, each rounded up."""
        return cost_micros(input_tokens, self.input_micros_per_million) + cost_micros(
            max_tokens, self.output_micros_per_million
        )

    def cost_micros(self, input_tokens: int, output_tokens: int) -> int:
        return cost_micros(input_tokens, self.input_micros_per_million) + cost_micros(
            output_tokens, self.output_micros_per_million
        )


class PriceBook:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._prices: dict[str, Price] = {}
        self._loaded_at = float("-inf")

    async def refresh(self) -> None:
        rows = await self._pool.fetch(
            "SELECT model, version, provider, input_micros_per_million,"
            " output_micros_per_million, max_output_tokens FROM prices WHERE active"
        )
        self._prices = {row["model"]: Price(**dict(row)) for row in rows}
        self._loaded_at = time.monotonic()

    async def get(self, model: str) -> Price | None:
        """The active price of ``model``; a cached answer is at most REFRESH_SECONDS old."""
        price = self._prices.get(model)
        if price is None or time.monotonic() - self._loaded_at > REFRESH_SECONDS:
            await self.refresh()
            price = self._prices.get(model)
        return price
