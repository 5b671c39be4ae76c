"""Small wire-format helpers: timestamps as JavaScript prints them, the nominal BTC rate."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from copilot_kit.money import MICROS_PER_CENT

# saturn-local keeps caps and costs in USD; the sats fields of Saturn's protocol are derived
# at a FIXED nominal rate of $100,000 per BTC, i.e. 1 sat = 1,000 USD micros = 0.1 cent.
NOMINAL_BTC_USD = 100_000
MICROS_PER_SAT = 1_000


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def micros_to_cents_ceil(micros: int | None) -> int | None:
    return None if micros is None else -(-micros // MICROS_PER_CENT)


def micros_to_sats_ceil(micros: int | None) -> int | None:
    return None if micros is None else math.ceil(micros / MICROS_PER_SAT)
