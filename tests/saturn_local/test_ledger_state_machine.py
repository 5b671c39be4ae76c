"""B6: a hypothesis state machine over reserve / settle / void / crash / expire / new day /
retry against the real ledger: ``0 <= spent + held <= cap`` always, every hold resolved once."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import asyncpg
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from copilot_kit.db import asyncpg_connect_args
from saturn_local.ledger.repository import Denial, Hold, Ledger
from tests.saturn_local.ledger_helpers import (
    TEST_CLOCK_SQL,
    hold_request,
    install_test_clock,
    make_agent,
    set_clock,
)

T = TypeVar("T")
START = datetime(2030, 1, 1, 23, 58, 30, tzinfo=UTC)
CAP = 200
TTL = 60


async def test_b6_ledger_state_machine(saturn_db_url: str) -> None:
    # Hypothesis drives a synchronous machine: give it a thread with an event loop of its own.
    await asyncio.to_thread(_check_machine, saturn_db_url)


def _check_machine(saturn_db_url: str) -> None:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    def run(coro: Coroutine[Any, Any, T]) -> T:
        return loop.run_until_complete(coro)

    pool: asyncpg.Pool = run(
        asyncpg.create_pool(**asyncpg_connect_args(saturn_db_url), min_size=1, max_size=4)
    )
    run(install_test_clock(pool, "2030-01-01 23:58:30+00"))
    ledger = Ledger(pool, now_sql=TEST_CLOCK_SQL, hold_ttl_seconds=TTL)

    class LedgerMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.clock = 0  # seconds after 2030-01-01 23:58:30
            run(set_clock(pool, self._at()))
            self.agent_id = run(make_agent(pool, cap_micros=CAP))
            self.open: list[Hold] = []
            self.resolved: list[str] = []

        def _at(self) -> str:
            return (START + timedelta(seconds=self.clock)).isoformat()

        @rule(amount=st.integers(min_value=0, max_value=90))
        def reserve(self, amount: int) -> None:
            result = run(ledger.reserve(hold_request(self.agent_id, amount)))
            if isinstance(result, Hold):
                self.open.append(result)
            else:
                assert isinstance(result, Denial)
                assert result.spent_usd_micros + result.held_usd_micros + amount > CAP

        @rule(amount=st.integers(min_value=0, max_value=90))
        def crash_after_reserve(self, amount: int) -> None:
            # The process dies between reserve and settle: only the sweeper can free it.
            run(ledger.reserve(hold_request(self.agent_id, amount)))

        @precondition(lambda self: self.open)
        @rule(data=st.data(), charge=st.integers(min_value=0, max_value=200))
        def settle(self, data: st.DataObject, charge: int) -> None:
            hold = self.open.pop(data.draw(st.integers(0, len(self.open) - 1)))
            result = run(
                ledger.settle(
                    hold.receipt_id, charged_usd_micros=charge, input_tokens=1, output_tokens=1
                )
            )
            if result is not None:  # None: it expired and the sweeper got there first
                assert result.charged_usd_micros == min(charge, hold.quoted_usd_micros)
            self.resolved.append(hold.receipt_id)

        @precondition(lambda self: self.open)
        @rule(data=st.data())
        def void(self, data: st.DataObject) -> None:
            hold = self.open.pop(data.draw(st.integers(0, len(self.open) - 1)))
            run(ledger.void(hold.receipt_id, outcome="test"))
            self.resolved.append(hold.receipt_id)

        @precondition(lambda self: self.resolved)
        @rule(data=st.data())
        def retry_resolution(self, data: st.DataObject) -> None:
            receipt_id = data.draw(st.sampled_from(self.resolved))
            assert (
                run(
                    ledger.settle(receipt_id, charged_usd_micros=1, input_tokens=1, output_tokens=1)
                )
                is None
            )
            assert run(ledger.void(receipt_id, outcome="retry")) is None

        @rule(seconds=st.sampled_from([1, 30, 61, 120]))
        def advance_clock(self, seconds: int) -> None:
            self.clock += seconds
            run(set_clock(pool, self._at()))

        @rule()
        def sweep(self) -> None:
            run(ledger.sweep())

        @invariant()
        def ledger_is_consistent(self) -> None:
            rows = run(
                pool.fetch(
                    """
                    SELECT d.day, d.spent_usd_micros AS spent, d.held_usd_micros AS held,
                           (SELECT COALESCE(sum(quoted_usd_micros), 0) FROM receipts r
                             WHERE r.agent_id = d.agent_id AND r.day = d.day
                               AND r.status = 'held') AS open_holds,
                           (SELECT COALESCE(sum(charged_usd_micros), 0) FROM receipts r
                             WHERE r.agent_id = d.agent_id AND r.day = d.day
                               AND r.status = 'settled') AS settled
                      FROM ledger_day_figures d WHERE d.agent_id = $1
                    """,
                    self.agent_id,
                )
            )
            for row in rows:
                assert row["spent"] >= 0
                assert row["held"] >= 0
                assert row["spent"] + row["held"] <= CAP
                assert row["held"] == row["open_holds"]
                assert row["spent"] == row["settled"]

        def teardown(self) -> None:
            self.clock += TTL + 1
            run(set_clock(pool, self._at()))
            run(ledger.sweep())
            open_holds = run(
                pool.fetchval(
                    "SELECT count(*) FROM receipts WHERE agent_id = $1 AND status = 'held'",
                    self.agent_id,
                )
            )
            held = run(
                pool.fetchval(
                    "SELECT COALESCE(sum(held_usd_micros), 0) FROM ledger_day_figures"
                    " WHERE agent_id = $1",
                    self.agent_id,
                )
            )
            assert (open_holds, held) == (0, 0)

    try:
        run_state_machine_as_test(
            LedgerMachine,
            settings=settings(
                max_examples=15,
                stateful_step_count=25,
                deadline=None,
                suppress_health_check=list(HealthCheck),
            ),
        )
    finally:
        run(pool.close())
        asyncio.set_event_loop(None)
        loop.close()
