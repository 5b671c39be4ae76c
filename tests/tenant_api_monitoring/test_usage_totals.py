"""The running per-(customer, UTC day) usage totals: every new event counted exactly once,
whatever the replays, dates and concurrency; thresholds decided from them exactly once."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import asyncpg
import httpx

from copilot_kit.db import asyncpg_connect_args
from copilot_kit.migrate import upgrade
from copilot_kit.pg import drop_database, ensure_database
from tenant_api.monitoring.heavy_users import sweep_thresholds
from tests.tenant_api_monitoring.conftest import Api

# The definition the totals must always equal: a from-scratch aggregation of the events.
FROM_SCRATCH = """
SELECT customer_id, (occurred_at AT TIME ZONE 'UTC')::date AS day,
       sum(cost_usd_micros)::bigint AS spent_usd_micros, count(*) AS requests,
       count(*) FILTER (WHERE outcome IN ('daily_limit', 'per_call_limit')) AS limited_requests,
       count(*) FILTER (WHERE outcome = 'daily_limit') AS daily_limited_requests
FROM usage_events GROUP BY 1, 2 ORDER BY 1, 2
"""
TOTALS = """
SELECT customer_id, day, spent_usd_micros, requests, limited_requests, daily_limited_requests
FROM usage_day_totals ORDER BY 1, 2
"""
OUTCOMES = ("ok", "ok", "ok", "daily_limit", "per_call_limit", "error")


async def _rows(conn: asyncpg.Connection | asyncpg.Pool, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in await conn.fetch(sql)]


def _event(customer_id: str, event_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "customer_id": customer_id,
        "outcome": "ok",
        "cost_usd_micros": 1000,
        "input_tokens": 10,
        "output_tokens": 20,
        "model": "offline-extractive-1",
        **fields,
    }


async def _post(api: Api, events: list[dict[str, Any]]) -> httpx.Response:
    response = await api.http.post(
        "/internal/v1/usage-events", json={"events": events}, headers=api.service
    )
    assert response.status_code == 200, response.text
    return response


async def test_duplicates_in_a_batch_and_replayed_batches_count_once(api: Api) -> None:
    a = await api.customer("a")
    b = await api.customer("b")
    batch = [
        _event(a, "req_1", cost_usd_micros=100),
        _event(a, "req_1", cost_usd_micros=100),  # the same event twice in one batch
        _event(a, "req_2", cost_usd_micros=0, outcome="daily_limit"),
        _event(b, "req_1", cost_usd_micros=7),  # same request id, other customer: distinct
        _event(a, "req_3", cost_usd_micros=50, occurred_at="2024-02-29T23:59:59.999999Z"),
    ]

    first = await _post(api, batch)
    replay = await _post(api, batch)
    overlapping = await _post(api, [*batch[2:], _event(a, "req_4", cost_usd_micros=1)])

    assert first.json() == {"accepted": 4, "duplicates": 1}
    assert replay.json() == {"accepted": 0, "duplicates": 5}
    assert overlapping.json() == {"accepted": 1, "duplicates": 3}
    today = await api.db.fetchval("SELECT (now() AT TIME ZONE 'UTC')::date")
    expected = sorted(
        [
            (a, date(2024, 2, 29), 50, 1, 0, 0),
            (a, today, 101, 3, 1, 1),
            (b, today, 7, 1, 0, 0),
        ]
    )
    assert await _rows(api.db, TOTALS) == expected
    assert await _rows(api.db, FROM_SCRATCH) == expected


async def test_totals_equal_a_fresh_aggregation_after_random_concurrent_batches(
    api: Api,
) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    customers = [await api.customer(f"c{n}", plan="enterprise") for n in range(3)]
    now = await api.db.fetchval("SELECT now()")
    midnight = datetime.combine(now.astimezone(UTC).date(), datetime.min.time(), tzinfo=UTC)
    instants = [
        None,  # the database clock
        midnight,  # first instant of today
        midnight - timedelta(microseconds=1),  # last instant of yesterday
        midnight - timedelta(days=40, hours=3),
        datetime(2024, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5))),  # 2025 in UTC
        datetime(2025, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=5))),  # 2024 in UTC
    ]
    # A small pool of ids, so batches collide with each other and with themselves; a
    # replayed id may carry other fields, and whichever insert committed first stands.
    ids = [f"req_{n}" for n in range(120)]

    def random_batch() -> list[dict[str, Any]]:
        events = []
        for _ in range(rng.randint(1, 60)):
            at = rng.choice(instants)
            events.append(
                _event(
                    rng.choice(customers),
                    rng.choice(ids),
                    outcome=rng.choice(OUTCOMES),
                    cost_usd_micros=rng.randint(0, 5_000_000),
                    **({"occurred_at": at.isoformat()} if at else {}),
                )
            )
        return events

    accepted = 0
    for _ in range(6):
        responses = await asyncio.gather(*(_post(api, random_batch()) for _ in range(5)))
        accepted += sum(r.json()["accepted"] for r in responses)

    assert accepted == await api.db.fetchval("SELECT count(*) FROM usage_events"), seed
    totals = await _rows(api.db, TOTALS)
    assert totals == await _rows(api.db, FROM_SCRATCH), f"seed {seed}"
    assert len({row[1] for row in totals}) >= 3, f"seed {seed}: too few days exercised"


async def test_concurrent_ingestion_emits_each_threshold_exactly_once(api: Api) -> None:
    whale = await api.customer("whale")  # free: $1/day = 1_000_000 micros
    calm = await api.customer("calm")

    def batch(n: int) -> list[dict[str, Any]]:
        return [_event(whale, f"w_{n}_{i}", cost_usd_micros=10_000) for i in range(10)] + [
            _event(calm, f"c_{n}", cost_usd_micros=1_000)
        ]

    batches = [batch(n) for n in range(20)]  # 2_000_000 micros for the whale in all
    await asyncio.gather(*(_post(api, b) for b in batches))
    await asyncio.gather(*(_post(api, b) for b in batches[:10]))  # replays add nothing

    crossings = await api.db.fetch(
        "SELECT customer_id, threshold_percent, spent_usd_micros FROM threshold_crossings "
        "ORDER BY threshold_percent"
    )
    assert [(r["customer_id"], r["threshold_percent"]) for r in crossings] == [
        (whale, 80),
        (whale, 100),
    ]
    # The totals row serialises concurrent batches, so each crossing is decided by the batch
    # that crossed it (no help from the sweep): its spend is the first to reach the line.
    assert [r["spent_usd_micros"] for r in crossings] == [800_000, 1_000_000]
    events = await api.db.fetchval(
        "SELECT count(*) FROM webhook_events WHERE type = 'usage.threshold_reached'"
    )
    assert events == 2
    async with api.context.sessionmaker() as session, session.begin():
        assert await sweep_thresholds(session) == []
    spent = await api.db.fetchval(
        "SELECT spent_usd_micros FROM usage_day_totals WHERE customer_id = $1", whale
    )
    assert spent == 2_000_000


async def test_migration_backfills_existing_events(pg_server_url: str) -> None:
    name = f"test_mig_{uuid.uuid4().hex[:12]}"
    url = await ensure_database(pg_server_url, name)
    try:
        await upgrade(url, "tenant_api", "0002")
        conn = await asyncpg.connect(**asyncpg_connect_args(url))
        try:
            await conn.execute(
                "INSERT INTO customers (id, external_id, name, plan_tier, status, agent_name, "
                "daily_cap_usd_cents, per_call_cap_usd_cents) VALUES "
                "('cus_a', 'a', 'a', 'free', 'pending', 'a', 100, 25), "
                "('cus_b', 'b', 'b', 'free', 'pending', 'b', 100, 25)"
            )
            insert = (
                "INSERT INTO usage_events (customer_id, id, outcome, cost_usd_micros, "
                "input_tokens, output_tokens, occurred_at) "
                "SELECT c, 'req_' || n, (ARRAY['ok', 'daily_limit', 'per_call_limit', "
                "'error'])[1 + n % 4], n * 10, 1, 1, "
                "timestamptz '2025-03-01T00:00:00Z' + n * interval '97 minutes' "
                "FROM unnest(ARRAY['cus_a', 'cus_b']) c, generate_series($1::int, $2::int) n "
                "ON CONFLICT DO NOTHING"
            )
            await conn.execute(insert, 1, 300)

            await upgrade(url, "tenant_api")

            backfilled = await _rows(conn, TOTALS)
            assert len(backfilled) > 20
            assert backfilled == await _rows(conn, FROM_SCRATCH)
            await conn.execute(insert, 250, 400)  # overlaps the backfilled events
            assert await _rows(conn, TOTALS) == await _rows(conn, FROM_SCRATCH)
        finally:
            await conn.close()
    finally:
        await drop_database(pg_server_url, name)
