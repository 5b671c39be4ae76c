"""The day's figures on every reason success: ``X-Saturn-Spent-Today-Usd-Micros`` (right after
this call's settle) and ``X-Saturn-Daily-Cap-Usd-Micros`` (omitted when there is no cap)."""

from __future__ import annotations

import asyncio

from tests.saturn_local.conftest import FLAT7_MODEL, FLAT7_PROMPT, PRIMARY, Saturn, add_flat7
from tests.saturn_local.ledger_helpers import totals

SPENT = "x-saturn-spent-today-usd-micros"
CAP = "x-saturn-daily-cap-usd-micros"
BODY = {"prompt": FLAT7_PROMPT, "model": FLAT7_MODEL}  # exactly 70,000 micros a call


async def _usage_today(saturn: Saturn, agent_id: str) -> dict[str, int]:
    resp = await saturn.http.get(f"/v1/agents/{agent_id}/usage?days=1", headers=PRIMARY)
    assert resp.status_code == 200
    today: dict[str, int] = resp.json()["days"][0]
    return today


async def test_spent_and_cap_headers_track_the_ledger_call_by_call(saturn: Saturn) -> None:
    await add_flat7(saturn.pool)
    agent_id, key = await saturn.create_agent(daily_cents=30)
    for n in range(1, 5):
        resp = await saturn.reason(key, BODY)
        assert resp.status_code == 200, resp.text
        assert int(resp.headers[SPENT]) == 70_000 * n
        assert int(resp.headers[CAP]) == 300_000
        today = await _usage_today(saturn, agent_id)
        assert int(resp.headers[SPENT]) == today["spentUsdMicros"]
        assert int(resp.headers[CAP]) == today["capUsdCents"] * 10_000
    assert (await saturn.reason(key, BODY)).status_code == 403  # 280k + 70k > 300k

    # A raised cap is what the very next call reports.
    patch = await saturn.http.patch(
        f"/v1/agents/{agent_id}/policy", json={"maxPerDayUsdCents": 40}, headers=PRIMARY
    )
    assert patch.status_code == 200
    resp = await saturn.reason(key, BODY)
    assert resp.status_code == 200
    assert (int(resp.headers[SPENT]), int(resp.headers[CAP])) == (350_000, 400_000)
    assert await totals(saturn.pool, agent_id) == (350_000, 0)


async def test_concurrent_calls_each_see_the_day_after_their_own_settle(saturn: Saturn) -> None:
    """Settles are serialised on the day's row: five concurrent calls report five distinct
    figures, the last of them the day's total."""
    await add_flat7(saturn.pool)
    agent_id, key = await saturn.create_agent(daily_cents=100)
    responses = await asyncio.gather(*(saturn.reason(key, BODY) for _ in range(5)))
    assert {r.status_code for r in responses} == {200}
    figures = sorted(int(r.headers[SPENT]) for r in responses)
    assert figures == [70_000 * n for n in range(1, 6)]
    assert (await _usage_today(saturn, agent_id))["spentUsdMicros"] == 350_000


async def test_no_cap_header_without_a_daily_cap(saturn: Saturn) -> None:
    await add_flat7(saturn.pool)
    _, key = await saturn.create_agent(daily_cents=None)
    resp = await saturn.reason(key, BODY)
    assert resp.status_code == 200
    assert int(resp.headers[SPENT]) == 70_000
    assert CAP not in resp.headers


async def test_replay_omits_the_stale_day_figures(saturn: Saturn) -> None:
    await add_flat7(saturn.pool)
    agent_id, key = await saturn.create_agent(daily_cents=100)
    first = await saturn.reason(key, BODY, {"Idempotency-Key": "k-day"})
    assert int(first.headers[SPENT]) == 70_000
    await saturn.reason(key, BODY)
    replay = await saturn.reason(key, BODY, {"Idempotency-Key": "k-day"})
    assert replay.headers["x-saturn-idempotent-replay"] == "true"
    assert replay.headers["x-saturn-audit-id"] == first.headers["x-saturn-audit-id"]
    assert SPENT not in replay.headers
    assert CAP not in replay.headers
    assert await totals(saturn.pool, agent_id) == (140_000, 0)


async def test_denied_key_runs_after_a_cap_raise_then_replays(saturn: Saturn) -> None:
    """What the gateway's burst retry relies on: a key refused for the daily cap is free again,
    so retrying under the raised cap with the SAME key stores the success under it, and a
    client's later retry of that key replays it instead of charging again."""
    await add_flat7(saturn.pool)
    agent_id, key = await saturn.create_agent(daily_cents=10)
    assert (await saturn.reason(key, BODY)).status_code == 200
    denied = await saturn.reason(key, BODY, {"Idempotency-Key": "burst-me"})
    assert denied.status_code == 403
    await saturn.http.patch(
        f"/v1/agents/{agent_id}/policy", json={"maxPerDayUsdCents": 20}, headers=PRIMARY
    )
    retried = await saturn.reason(key, BODY, {"Idempotency-Key": "burst-me"})
    assert retried.status_code == 200
    assert (int(retried.headers[SPENT]), int(retried.headers[CAP])) == (140_000, 200_000)
    again = await saturn.reason(key, BODY, {"Idempotency-Key": "burst-me"})
    assert again.headers["x-saturn-idempotent-replay"] == "true"
    assert await totals(saturn.pool, agent_id) == (140_000, 0)
