"""The ``budget`` block of a 200 and the cap of a 429: exact from Saturn's figures when it sends
them (saturn-local's day headers, a denial's details), the gateway's estimate otherwise."""

from __future__ import annotations

from .conftest import Gateway, GatewayFactory, ok_reply, saturn_error


async def test_budget_is_exact_from_the_day_headers(gateway: Gateway) -> None:
    gateway.saturn.reply = ok_reply(
        charged_usd_micros=1234, spent_today_usd_micros=2_480_000, daily_cap_usd_micros=10_000_000
    )
    first = (await gateway.reason()).json()["budget"]
    assert first["spent_today_usd_micros"] == 2_480_000
    assert first["daily_cap_usd_cents"] == 1000
    assert first["remaining_usd_micros"] == 7_520_000

    # Other replicas' calls happened in between: the header says so, whatever this replica saw.
    gateway.saturn.reply = ok_reply(
        charged_usd_micros=1234, spent_today_usd_micros=6_000_000, daily_cap_usd_micros=10_000_000
    )
    second = (await gateway.reason()).json()["budget"]
    assert second["spent_today_usd_micros"] == 6_000_000
    assert second["remaining_usd_micros"] == 4_000_000


async def test_remaining_is_floored_at_zero(gateway: Gateway) -> None:
    # A cap lowered below today's spend: the last call still settled, nothing remains.
    gateway.saturn.reply = ok_reply(
        spent_today_usd_micros=3_000_000, daily_cap_usd_micros=2_000_000
    )
    budget = (await gateway.reason()).json()["budget"]
    assert (budget["daily_cap_usd_cents"], budget["remaining_usd_micros"]) == (200, 0)


async def test_estimate_is_the_fallback_without_the_headers(gateway: Gateway) -> None:
    gateway.saturn.reply = ok_reply(charged_usd_micros=700)
    budget = (await gateway.reason()).json()["budget"]
    assert budget["spent_today_usd_micros"] == 700
    assert budget["daily_cap_usd_cents"] == 1000  # the resolution's cap
    assert budget["remaining_usd_micros"] == 10_000_000 - 700

    # An exact figure, then a server without the headers: the estimate builds on the figure.
    gateway.saturn.reply = ok_reply(
        charged_usd_micros=700, spent_today_usd_micros=3_000_000, daily_cap_usd_micros=10_000_000
    )
    assert (await gateway.reason()).json()["budget"]["spent_today_usd_micros"] == 3_000_000
    gateway.saturn.reply = ok_reply(charged_usd_micros=500)
    budget = (await gateway.reason()).json()["budget"]
    assert budget["spent_today_usd_micros"] == 3_000_500
    assert budget["remaining_usd_micros"] == 10_000_000 - 3_000_500


async def test_no_cap_header_keeps_the_plan_cap(gateway: Gateway) -> None:
    gateway.saturn.reply = ok_reply(spent_today_usd_micros=1_500_000)
    budget = (await gateway.reason()).json()["budget"]
    assert budget["spent_today_usd_micros"] == 1_500_000
    assert budget["daily_cap_usd_cents"] == 1000
    assert budget["remaining_usd_micros"] == 8_500_000


async def test_a_replays_stale_figures_are_not_taken(gateway: Gateway) -> None:
    gateway.saturn.reply = ok_reply(
        spent_today_usd_micros=2_000_000, daily_cap_usd_micros=10_000_000
    )
    await gateway.reason(headers={"Idempotency-Key": "k"})
    gateway.saturn.reply = ok_reply(
        replay=True, spent_today_usd_micros=1_000, daily_cap_usd_micros=500_000
    )
    budget = (await gateway.reason(headers={"Idempotency-Key": "k"})).json()["budget"]
    assert budget["spent_today_usd_micros"] == 2_000_000
    assert budget["daily_cap_usd_cents"] == 1000


async def test_an_upgrade_shows_at_once_despite_the_resolution_cache(
    make_gateway: GatewayFactory,
) -> None:
    gateway: Gateway = await make_gateway(gateway_resolve_cache_seconds=5)
    gateway.saturn.reply = ok_reply(spent_today_usd_micros=900_000, daily_cap_usd_micros=1_000_000)
    budget = (await gateway.reason("cus_b")).json()["budget"]
    assert (budget["daily_cap_usd_cents"], budget["remaining_usd_micros"]) == (100, 100_000)

    # tenant-api upgrades cus_b to pro and raises the cap at Saturn before it answers; the
    # gateway's resolution of cus_b is still the cached free plan.
    gateway.tenant.customers["cus_b"].update(plan="pro", daily_cap_usd_cents=1000)
    gateway.saturn.reply = ok_reply(spent_today_usd_micros=950_000, daily_cap_usd_micros=10_000_000)
    budget = (await gateway.reason("cus_b")).json()["budget"]
    assert budget["daily_cap_usd_cents"] == 1000
    assert budget["remaining_usd_micros"] == 9_050_000
    assert gateway.tenant.lookups == ["cus_b"]  # no new lookup: the header carried the cap


async def test_429_takes_the_cap_from_the_denial_details(gateway: Gateway) -> None:
    # A cap raised by a burst or a rollover: the details have it, the resolution does not.
    gateway.saturn.reply = saturn_error(
        403,
        "POLICY_DENIED",
        "daily_limit_exceeded",
        {"spentUsdMicros": 19_990_000, "capUsdMicros": 20_000_000, "quoteUsdMicros": 20_000},
    )
    resp = await gateway.reason()
    assert resp.status_code == 429
    error = resp.json()["error"]
    assert (error["daily_cap_usd_cents"], error["spent_today_usd_micros"]) == (2000, 19_990_000)
