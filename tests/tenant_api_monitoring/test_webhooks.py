"""Webhook endpoints, threshold events and outbox delivery to a real receiver."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest

from tenant_api.monitoring.thresholds import on_usage_recorded
from tenant_api.monitoring.usage_source import db_today
from tenant_api.webhooks.delivery import DeliveryWorker
from tenant_api.webhooks.outbox import emit
from tenant_api.webhooks.schemas import WebhookEventType
from tenant_api.webhooks.signing import verify
from tests.tenant_api_monitoring.conftest import Api, Receiver, ReceiverFactory, deliver_until

THRESHOLD = "usage.threshold_reached"
ROOT = Path(__file__).resolve().parents[2]


async def test_endpoint_crud_shows_the_secret_once_and_stores_it_encrypted(api: Api) -> None:
    created = await api.endpoint(
        "https://hooks.example.com/copilot", THRESHOLD, "customer.burst_used"
    )

    assert created["secret"].startswith("whsec_")
    assert created["events"] == [THRESHOLD, "customer.burst_used"]
    listed = await api.http.get("/v1/webhook-endpoints", headers=api.admin)
    assert listed.status_code == 200
    [item] = listed.json()["data"]
    assert "secret" not in item
    assert item["secret_last4"] == created["secret"][-4:]
    stored = await api.db.fetchrow("SELECT * FROM webhook_endpoints")
    assert created["secret"].encode() not in stored["secret_ciphertext"]
    assert created["secret"] not in str(dict(stored))

    deleted = await api.http.delete(f"/v1/webhook-endpoints/{created['id']}", headers=api.admin)
    assert deleted.status_code == 204
    again = await api.http.delete(f"/v1/webhook-endpoints/{created['id']}", headers=api.admin)
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "webhook_endpoint_not_found"
    assert (await api.http.get("/v1/webhook-endpoints", headers=api.admin)).json()["data"] == []


async def test_endpoint_routes_need_the_admin_token(api: Api) -> None:
    assert (await api.http.get("/v1/webhook-endpoints")).status_code == 401
    refused = await api.http.get("/v1/webhook-endpoints", headers=api.service)
    assert refused.status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://hooks.example.com/x", "events": [THRESHOLD]}, "url"),
        ({"url": "javascript:alert(1)", "events": [THRESHOLD]}, "url"),
        ({"url": "https://", "events": [THRESHOLD]}, "url"),
        ({"url": "https://hooks.example.com/x", "events": ["usage.exploded"]}, "events.0"),
        ({"url": "https://hooks.example.com/x", "events": []}, "events"),
        ({"url": "https://hooks.example.com/x", "events": [THRESHOLD], "secret": "x"}, "secret"),
    ],
)
async def test_bad_endpoint_is_422_and_stores_nothing(
    api: Api, body: dict[str, object], field: str
) -> None:
    response = await api.http.post("/v1/webhook-endpoints", json=body, headers=api.admin)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["type"] == "invalid_request"
    assert field in [f["field"] for f in error["fields"]]
    assert await api.db.fetchval("SELECT count(*) FROM webhook_endpoints") == 0


async def test_thresholds_fire_exactly_once_per_customer_day_under_concurrency(
    api: Api, receiver: Receiver, workers: Callable[[], DeliveryWorker]
) -> None:
    endpoint = await api.endpoint(receiver.url, THRESHOLD)
    whale = await api.customer("whale")  # free: $1/day = 1_000_000 micros
    calm = await api.customer("calm")
    today = date(2025, 3, 10)

    async def record_concurrently() -> None:
        async def one() -> list[str]:
            async with api.context.sessionmaker() as session, session.begin():
                return await on_usage_recorded(session, [whale, calm], day=today)

        await asyncio.gather(*(one() for _ in range(20)))

    await api.add_events(whale, today, 500_000, 350_000)  # 85 %
    await api.add_events(calm, today, 100_000)  # 10 %
    await record_concurrently()
    await record_concurrently()
    await api.add_events(whale, today, 150_000)  # exactly the cap
    await record_concurrently()
    # The next day is a new edge: alerts fire again, not once and never again.
    await api.add_events(whale, today + timedelta(days=1), 900_000)
    async with api.context.sessionmaker() as session, session.begin():
        await on_usage_recorded(session, [whale], day=today + timedelta(days=1))

    await deliver_until(lambda: len(receiver.delivered()) >= 3, workers())
    await asyncio.sleep(0.1)  # nothing more arrives
    got = [r.json["data"] for r in receiver.delivered()]
    assert sorted((d["customer_id"], d["date"], d["threshold_percent"]) for d in got) == [
        (whale, "2025-03-10", 80),
        (whale, "2025-03-10", 100),
        (whale, "2025-03-11", 80),
    ]
    hundred = next(d for d in got if d["threshold_percent"] == 100)
    assert hundred["spent_usd_micros"] == 1_000_000
    assert hundred["daily_cap_usd_cents"] == 100
    now = int(time.time())
    for request in receiver.delivered():
        assert verify(endpoint["secret"], request.body, request.signature, now=now)
        assert not verify("whsec_wrong", request.body, request.signature, now=now)
        assert request.event_id == request.json["id"]
        assert request.json["type"] == THRESHOLD
    assert await api.db.fetchval("SELECT count(*) FROM threshold_crossings") == 3


async def test_a_daily_limit_refusal_counts_as_reaching_100(api: Api) -> None:
    customer = await api.customer("refused")
    day = date(2025, 3, 10)
    await api.add_events(customer, day, 300_000)
    await api.add_events(customer, day, 0, outcome="daily_limit")

    async with api.context.sessionmaker() as session, session.begin():
        emitted = await on_usage_recorded(session, [customer], day=day)

    assert len(emitted) == 2
    rows = await api.db.fetch("SELECT threshold_percent FROM threshold_crossings ORDER BY 1")
    assert [r["threshold_percent"] for r in rows] == [80, 100]


async def _emit_events(api: Api, count: int) -> list[str]:
    async with api.context.sessionmaker() as session, session.begin():
        return [
            await emit(session, WebhookEventType.CUSTOMER_HEAVY_USER, {"n": n})
            for n in range(count)
        ]


async def test_failed_deliveries_are_retried_with_the_same_event_id(
    api: Api, receiver: Receiver, workers: Callable[[], DeliveryWorker]
) -> None:
    endpoint = await api.endpoint(receiver.url, "customer.heavy_user")
    receiver.script = [500, 500]
    [event_id] = await _emit_events(api, 1)

    await deliver_until(lambda: len(receiver.delivered()) == 1, workers())

    assert [r.status for r in receiver.requests] == [500, 500, 200]
    assert {r.event_id for r in receiver.requests} == {event_id}
    assert len({r.body for r in receiver.requests}) == 1
    now = int(time.time())
    assert all(verify(endpoint["secret"], r.body, r.signature, now=now) for r in receiver.requests)
    row = await api.db.fetchrow("SELECT status, attempts FROM webhook_deliveries")
    assert (row["status"], row["attempts"]) == ("delivered", 3)


async def test_a_receiver_that_keeps_failing_is_given_up_after_max_attempts(
    api: Api, receiver: Receiver, workers: Callable[[], DeliveryWorker]
) -> None:
    await api.endpoint(receiver.url, "customer.heavy_user")
    receiver.default = 503
    await _emit_events(api, 1)

    async def status() -> str:
        return str(await api.db.fetchval("SELECT status FROM webhook_deliveries"))

    worker = workers()
    deadline = time.monotonic() + 8
    while await status() == "pending":
        assert time.monotonic() < deadline
        await worker.run_once()
        await worker.wait_idle()
        await asyncio.sleep(0.02)

    assert await status() == "failed"
    assert len(receiver.requests) == 5  # webhook_max_attempts in the test settings


async def test_nothing_is_lost_when_a_worker_stops_mid_delivery(
    api: Api, receiver: Receiver, workers: Callable[[], DeliveryWorker]
) -> None:
    await api.endpoint(receiver.url, "customer.heavy_user")
    event_ids = await _emit_events(api, 3)
    receiver.default = "hang"
    first = workers()
    assert await first.run_once() == 3
    await asyncio.sleep(0.1)  # the attempts are in flight at the receiver

    await first.aclose()  # the "process" stops; its claims are handed back
    receiver.default = 200
    second = workers()
    await deliver_until(lambda: len(receiver.delivered()) == 3, second)

    assert sorted(r.event_id for r in receiver.delivered()) == sorted(event_ids)
    statuses = await api.db.fetch("SELECT status FROM webhook_deliveries")
    assert [s["status"] for s in statuses] == ["delivered"] * 3


async def test_two_workers_deliver_each_event_once(
    api: Api, receiver: Receiver, workers: Callable[[], DeliveryWorker]
) -> None:
    await api.endpoint(receiver.url, "customer.heavy_user")
    receiver.delay_seconds = 0.01
    event_ids = await _emit_events(api, 30)
    a, b = workers(), workers()

    await deliver_until(lambda: len(receiver.delivered()) >= 30, a, b)
    await asyncio.gather(a.wait_idle(), b.wait_idle())

    counts = Counter(r.event_id for r in receiver.requests)
    assert set(counts) == set(event_ids)
    assert set(counts.values()) == {1}


async def test_a_hanging_receiver_delays_only_its_own_deliveries(
    api: Api, receivers: ReceiverFactory, workers: Callable[[], DeliveryWorker]
) -> None:
    stuck, healthy = await receivers(), await receivers()
    stuck.default = "hang"
    await api.endpoint(stuck.url, "customer.heavy_user")
    await api.endpoint(healthy.url, "customer.heavy_user")
    await _emit_events(api, 6)
    worker = workers()

    started = time.monotonic()
    await deliver_until(lambda: len(healthy.delivered()) == 6, worker, within=3)

    assert time.monotonic() - started < 0.9  # well inside the stuck receiver's timeout
    assert stuck.delivered() == []
    assert worker.in_flight > 0  # the stuck receiver's attempts are still waiting


async def test_an_endpoint_only_gets_the_events_it_subscribed_to(
    api: Api, receiver: Receiver, workers: Callable[[], DeliveryWorker]
) -> None:
    await api.endpoint(receiver.url, "customer.burst_used")
    await _emit_events(api, 2)  # customer.heavy_user
    async with api.context.sessionmaker() as session, session.begin():
        await emit(session, WebhookEventType.CUSTOMER_BURST_USED, {"x": 1})
        today = await db_today(session)

    await deliver_until(lambda: len(receiver.delivered()) == 1, workers())

    assert [r.json["type"] for r in receiver.delivered()] == ["customer.burst_used"]
    assert await api.db.fetchval("SELECT count(*) FROM webhook_deliveries") == 1
    assert today.year >= 2025


async def test_two_processes_deliver_each_event_once(
    api: Api, receiver: Receiver, workers: Callable[[], DeliveryWorker]
) -> None:
    await api.endpoint(receiver.url, "customer.heavy_user")
    receiver.delay_seconds = 0.02
    env = {
        **os.environ,
        "COPILOT_ENCRYPTION_KEYS": api.settings.encryption_keys.get_secret_value(),
    }
    other = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.tenant_api_monitoring.worker_process",
        api.settings.database_url,
        "40",
        env=env,
        cwd=str(ROOT),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert other.stdout is not None
        assert await asyncio.wait_for(other.stdout.readline(), 20) == b"ready\n"
        event_ids = await _emit_events(api, 40)  # both processes are polling now
        await deliver_until(lambda: len(receiver.delivered()) >= 40, workers(), within=20)
    finally:
        assert await asyncio.wait_for(other.wait(), 20) == 0

    counts = Counter(r.event_id for r in receiver.requests)
    assert set(counts) == set(event_ids)
    assert set(counts.values()) == {1}
