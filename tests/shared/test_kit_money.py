"""Integer money helpers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from copilot_kit.money import (
    MICROS_PER_CENT,
    cents_to_micros,
    cost_micros,
    micros_to_cents_ceil,
    micros_to_cents_floor,
)


def test_cents_to_micros() -> None:
    assert cents_to_micros(500) == 5_000_000
    assert cents_to_micros(0) == 0


@pytest.mark.parametrize(
    ("micros", "ceil", "floor"),
    [(0, 0, 0), (1, 1, 0), (9_999, 1, 0), (10_000, 1, 1), (10_001, 2, 1), (5_000_000, 500, 500)],
)
def test_cent_rounding(micros: int, ceil: int, floor: int) -> None:
    assert micros_to_cents_ceil(micros) == ceil
    assert micros_to_cents_floor(micros) == floor


@pytest.mark.parametrize(
    ("tokens", "price", "expected"),
    [(0, 150_000, 0), (1, 150_000, 1), (1_000, 150_000, 150), (1_000_000, 600_000, 600_000)],
)
def test_cost_rounds_up(tokens: int, price: int, expected: int) -> None:
    assert cost_micros(tokens, price) == expected


@given(st.integers(min_value=0, max_value=10**12))
def test_rounding_brackets_the_value(micros: int) -> None:
    low, high = micros_to_cents_floor(micros), micros_to_cents_ceil(micros)
    assert low * MICROS_PER_CENT <= micros <= high * MICROS_PER_CENT
    assert high - low in (0, 1)
    assert (high == low) == (micros % MICROS_PER_CENT == 0)


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=0, max_value=10**8))
def test_cost_never_underprices(tokens: int, price: int) -> None:
    cost = cost_micros(tokens, price)
    assert cost * 1_000_000 >= tokens * price
    assert (cost - 1) * 1_000_000 < tokens * price or cost == 0
