"""Money is integers only: caps in USD cents, costs and spend in USD micros."""

from __future__ import annotations

MICROS_PER_CENT = 10_000
MICROS_PER_USD = 1_000_000


def cents_to_micros(cents: int) -> int:
    return cents * MICROS_PER_CENT


def micros_to_cents_ceil(micros: int) -> int:
    """Round up, as Saturn does on receipts: any non-zero charge is at least one cent."""
    return -(-micros // MICROS_PER_CENT)


def micros_to_cents_floor(micros: int) -> int:
    return micros // MICROS_PER_CENT


def cost_micros(tokens: int, micros_per_million_tokens: int) -> int:
    """Cost of ``tokens`` at a per-million price, rounded up so a hold never under-prices."""
    return -(-tokens * micros_per_million_tokens // 1_000_000)
