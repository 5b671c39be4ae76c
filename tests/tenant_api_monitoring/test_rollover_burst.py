"""Rollover across simulated days, burst allowance, and the scheduler that runs the jobs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date, timedelta

from tenant_api.monitoring.burst import BurstService
from tenant_api.monitoring.settings import MonitoringSettings
from tenant_api.monitoring.thresholds import on_usage_recorded
from tenant_api.scheduler import JOBS_LOCK_KEY, Scheduler, start
from tenant_api.webhooks.delivery import DeliveryWorker
from tenant_api.webhooks.outbox import emit
from tenant_api.webhooks.schemas import WebhookEventType
from tests.tenant_api.conftest import FakeSaturn, saturn_down
from tests.tenant_api_monitoring.conftest import Api, Receiver, deliver_until

D0 = date(2025, 3, 9)


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def agent_cap(saturn: FakeSaturn, external_id: str) -> int | None:
    [agent] = saturn.by_name(f"customer-{external_id}")
    return agent.max_per_day_usd_cents


async def test_rollover_carries_unused_budget_into_the_next_day(
    api: Api, saturn: FakeSaturn, monitoring_settings: MonitoringSettings
) -> None:
    pro = await api.customer("roll", "pro")  # $10/day, rollover max $5
    await api.customer("plain", "free")  # no rollover: never touched
    scheduler = Scheduler(api.context, monitoring_settings)
    patches = len(saturn.calls("policy"))

    await api.add_events(pro, day(0), 3_000_000)  # $3 of $10 spent: $7 unused, max $5
    first = await scheduler.jobs_tick(day=day(1))
    again = await scheduler.jobs_tick(day=day(1))

    assert first.ran
    assert first.rollover is not None
    assert [c.daily_cap_usd_cents for c in first.rollover.applied] == [1500]
    assert again.rollover is not None
    assert again.rollover.applied == []
    assert agent_cap(saturn, "roll") == 1500
    assert saturn.calls("policy")[patches:] == [
        {"maxPerCallUsdCents": 100, "maxPerDayUsdCents": 1500}
    ]
    # The effective cap is what thresholds measure against: $14 of $15 is 93 %.
    await api.add_events(pro, day(1), 14_000_000)
    async with api.context.sessionmaker() as session, session.begin():
        await on_usage_recorded(session, [pro], day=day(1))
    crossing = await api.db.fetch(
        "SELECT threshold_percent, daily_cap_usd_cents FROM threshold_crossings"
    )
    assert [tuple(r) for r in crossing] == [(80, 1500)]

    await scheduler.jobs_tick(day=day(2))  # $1 left of $15 yesterday
    assert agent_cap(saturn, "roll") == 1100

    await api.add_events(pro, day(2), 11_000_000)  # spent it all
    await scheduler.jobs_tick(day=day(3))  # nothing unused: back to the plan's cap
    assert agent_cap(saturn, "roll") == 1000

    await api.add_events(pro, day(3), 10_000_000)
    before = len(saturn.calls("policy"))
    await scheduler.jobs_tick(day=day(4))  # no rollover, cap already plain: no call
    assert len(saturn.calls("policy")) == before
    assert agent_cap(saturn, "plain") == 100

    caps = await api.db.fetch(
        "SELECT day, daily_cap_usd_cents, rollover_usd_cents FROM daily_caps ORDER BY day"
    )
    assert [(r["day"], r["daily_cap_usd_cents"], r["rollover_usd_cents"]) for r in caps] == [
        (day(1), 1500, 500),
        (day(2), 1100, 100),
        (day(3), 1000, 0),
    ]
    # The margin report's worst case counts the raised caps.
    margin = await api.http.get(
        "/v1/reports/margin", params={"month": "2025-03"}, headers=api.admin
    )
    pro_plan = next(p for p in margin.json()["plans"] if p["plan"] == "pro")
    assert pro_plan["worst_case_ai_cost_usd_micros"] == (31 * 1000 + 600) * 10_000


async def test_rollover_retries_next_tick_when_saturn_fails(
    api: Api, saturn: FakeSaturn, monitoring_settings: MonitoringSettings
) -> None:
    await api.customer("roll", "pro")
    scheduler = Scheduler(api.context, monitoring_settings)
    saturn.fail("policy", saturn_down())

    failed = await scheduler.jobs_tick(day=day(1))
    assert failed.rollover is not None
    assert len(failed.rollover.failed) == 1
    assert await api.db.fetchval("SELECT count(*) FROM daily_caps") == 0

    retried = await scheduler.jobs_tick(day=day(1))
    assert retried.rollover is not None
    assert len(retried.rollover.applied) == 1
    assert agent_cap(saturn, "roll") == 1500  # nothing spent yesterday: full $5 rolls over


async def test_burst_route_raises_the_cap_once_per_day(api: Api, saturn: FakeSaturn) -> None:
    pro = await api.customer("bursty", "pro")  # 3 burst days, 200 %
    patches = len(saturn.calls("policy"))

    first = await api.http.post(f"/internal/v1/customers/{pro}/burst", headers=api.service)
    second = await api.http.post(f"/internal/v1/customers/{pro}/burst", headers=api.service)

    assert first.status_code == 200
    today = await api.db.fetchval("SELECT (now() AT TIME ZONE 'UTC')::date")
    assert first.json() == {
        "granted": True,
        "reason": "granted",
        "customer_id": pro,
        "date": today.isoformat(),
        "daily_cap_usd_cents": 2000,
        "burst_days_used": 1,
        "burst_days_per_month": 3,
    }
    assert second.json()["granted"] is True
    assert second.json()["reason"] == "already_granted_today"
    assert second.json()["burst_days_used"] == 1
    assert saturn.calls("policy")[patches:] == [
        {"maxPerCallUsdCents": 100, "maxPerDayUsdCents": 2000}
    ]
    assert (
        await api.db.fetchval(
            "SELECT count(*) FROM webhook_events WHERE type = 'customer.burst_used'"
        )
        == 1
    )


async def test_burst_is_refused_without_allowance_and_for_other_tokens(
    api: Api, saturn: FakeSaturn
) -> None:
    free = await api.customer("freebie", "free")
    patches = len(saturn.calls("policy"))

    refused = await api.http.post(f"/internal/v1/customers/{free}/burst", headers=api.service)
    unknown = await api.http.post("/internal/v1/customers/cus_nope/burst", headers=api.service)
    admin = await api.http.post(f"/internal/v1/customers/{free}/burst", headers=api.admin)

    assert refused.status_code == 200
    assert refused.json()["granted"] is False
    assert refused.json()["reason"] == "no_burst_allowance"
    assert refused.json()["daily_cap_usd_cents"] == 100
    assert unknown.status_code == 404
    assert admin.status_code == 403
    assert len(saturn.calls("policy")) == patches
    assert await api.db.fetchval("SELECT count(*) FROM burst_days") == 0


async def test_concurrent_burst_requests_use_one_day(api: Api) -> None:
    pro = await api.customer("rush", "pro")
    service = BurstService(api.context)

    results = await asyncio.gather(
        *(service.request_burst(pro, today=date(2025, 3, 10)) for _ in range(10))
    )

    assert all(r.granted for r in results)
    assert sorted(r.reason.value for r in results).count("granted") == 1
    assert await api.db.fetchval("SELECT count(*) FROM burst_days") == 1
    assert await api.db.fetchval("SELECT count(*) FROM webhook_events") == 1


async def test_burst_days_are_limited_per_month_and_reported(
    api: Api, saturn: FakeSaturn, receiver: Receiver, workers: Callable[[], DeliveryWorker]
) -> None:
    await api.endpoint(receiver.url, "customer.burst_used")
    pro = await api.customer("bursty", "pro")
    service = BurstService(api.context)

    granted = [await service.request_burst(pro, today=date(2025, 3, d)) for d in (10, 11, 12)]
    used_up = await service.request_burst(pro, today=date(2025, 3, 13))
    cap_after_refusal = agent_cap(saturn, "bursty")
    april = await service.request_burst(pro, today=date(2025, 4, 1))

    assert [g.burst_days_used for g in granted] == [1, 2, 3]
    assert used_up.granted is False
    assert used_up.reason == "burst_days_used_up"
    assert cap_after_refusal == 2000  # the refusal changed nothing at Saturn
    assert april.granted is True
    assert april.burst_days_used == 1
    # A burst day's raised cap is the one thresholds use: $10 of $20 is only 50 %.
    await api.add_events(pro, date(2025, 3, 10), 10_000_000)
    async with api.context.sessionmaker() as session, session.begin():
        assert await on_usage_recorded(session, [pro], day=date(2025, 3, 10)) == []

    report = await api.http.get(
        "/v1/reports/bursts", params={"month": "2025-03"}, headers=api.admin
    )
    assert report.json()["data"] == [
        {
            "customer_id": pro,
            "external_id": "bursty",
            "plan": "pro",
            "burst_days_used": 3,
            "burst_days_per_month": 3,
            "days": ["2025-03-10", "2025-03-11", "2025-03-12"],
        }
    ]
    await deliver_until(lambda: len(receiver.delivered()) == 4, workers())
    dates = sorted(r.json["data"]["date"] for r in receiver.delivered())
    assert dates == ["2025-03-10", "2025-03-11", "2025-03-12", "2025-04-01"]


async def test_jobs_run_on_one_replica_at_a_time(
    api: Api, monitoring_settings: MonitoringSettings
) -> None:
    scheduler = Scheduler(api.context, monitoring_settings)
    await api.db.execute("SELECT pg_advisory_lock($1)", JOBS_LOCK_KEY)  # another replica

    skipped = await scheduler.jobs_tick(day=day(1))
    await api.db.execute("SELECT pg_advisory_unlock($1)", JOBS_LOCK_KEY)
    ran = await scheduler.jobs_tick(day=day(1))

    assert skipped.ran is False
    assert ran.ran is True


async def test_heavy_user_scan_announces_each_customer_once_a_month(
    api: Api, monitoring_settings: MonitoringSettings
) -> None:
    whale = await api.customer("whale", "free")
    for n in range(1, 15):
        await api.add_events(whale, date(2025, 3, n), 1_000_000)
    scheduler = Scheduler(api.context, monitoring_settings)

    early = await scheduler.jobs_tick(day=date(2025, 3, 14))  # 14 days at cap: not yet
    await api.add_events(whale, date(2025, 3, 15), 1_000_000)
    flagged = await scheduler.jobs_tick(day=date(2025, 3, 15))
    repeated = await scheduler.jobs_tick(day=date(2025, 3, 16))

    assert early.heavy_user_events == []
    assert len(flagged.heavy_user_events) == 1
    assert repeated.heavy_user_events == []
    body = await api.db.fetchval(
        "SELECT body FROM webhook_events WHERE id = $1", flagged.heavy_user_events[0]
    )
    assert '"days_at_cap":15' in body
    assert '"recommendation":"upsell"' in body


async def test_the_sweep_catches_a_crossing_no_recording_reported(
    api: Api, monitoring_settings: MonitoringSettings
) -> None:
    customer = await api.customer("quiet", "free")
    await api.add_events(customer, day(1), 900_000)  # 90 %, never passed to on_usage_recorded

    outcome = await Scheduler(api.context, monitoring_settings).jobs_tick(day=day(1))

    assert len(outcome.threshold_events) == 1


async def test_started_scheduler_delivers_without_manual_ticks(
    api: Api, receiver: Receiver, monitoring_settings: MonitoringSettings
) -> None:
    await api.endpoint(receiver.url, "customer.heavy_user")
    async with api.context.sessionmaker() as session, session.begin():
        event_id = await emit(session, WebhookEventType.CUSTOMER_HEAVY_USER, {"x": 1})
    fast = monitoring_settings.model_copy(
        update={"scheduler_enabled": True, "delivery_interval_seconds": 0.02}
    )

    scheduler = start(api.context, fast)
    try:
        for _ in range(200):
            if receiver.delivered():
                break
            await asyncio.sleep(0.02)
    finally:
        await scheduler.stop()

    assert [r.event_id for r in receiver.delivered()] == [event_id]
