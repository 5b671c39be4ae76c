"""Usage events from the gateway (idempotent) and the Usage view."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from tests.tenant_api.conftest import Api, FakeSaturn, saturn_down


def event(customer_id: str, event_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "customer_id": customer_id,
        "outcome": "ok",
        "cost_usd_micros": 1234,
        "input_tokens": 10,
        "output_tokens": 20,
        "model": "offline-extractive-1",
        **fields,
    }


async def _post(api: Api, events: list[dict[str, Any]]) -> Any:
    return await api.http.post(
        "/internal/v1/usage-events", json={"events": events}, headers=api.service
    )


async def _db_today(db: asyncpg.Connection) -> datetime:
    now: datetime = await db.fetchval("SELECT now()")
    return now.astimezone(UTC)


async def test_events_are_idempotent_by_id(api: Api, db: asyncpg.Connection) -> None:
    a = (await api.signup("a")).json()["id"]
    b = (await api.signup("b")).json()["id"]
    batch = [event(a, "req_1"), event(a, "req_2", outcome="daily_limit", cost_usd_micros=0),
             event(b, "req_3"), event(a, "req_1")]  # fmt: skip

    first = await _post(api, batch)
    replay = await _post(api, batch[:3])

    assert first.status_code == 200, first.text
    assert first.json() == {"accepted": 3, "duplicates": 1}
    assert replay.json() == {"accepted": 0, "duplicates": 3}
    rows = await db.fetch("SELECT * FROM usage_events ORDER BY id")
    assert [(r["customer_id"], r["id"], r["outcome"]) for r in rows] == [
        (a, "req_1", "ok"), (a, "req_2", "daily_limit"), (b, "req_3", "ok"),
    ]  # fmt: skip
    db_now = await db.fetchval("SELECT now()")
    assert all(abs((r["occurred_at"] - db_now).total_seconds()) < 60 for r in rows)


async def test_given_occurred_at_is_kept(api: Api, db: asyncpg.Connection) -> None:
    a = (await api.signup("a")).json()["id"]

    await _post(api, [event(a, "r1", occurred_at="2025-03-04T05:06:07+00:00")])

    stored = await db.fetchval("SELECT occurred_at FROM usage_events")
    assert stored == datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    "bad",
    [
        {"outcome": "maybe"},
        {"cost_usd_micros": -1},
        {"cost_usd_micros": 1.5},
        {"input_tokens": "10"},
        {"id": ""},
        {"occurred_at": "2025-03-04T05:06:07"},  # naive: which day would it be?
        {"extra": 1},
    ],
)
async def test_bad_events_are_refused_and_nothing_is_recorded(
    api: Api, db: asyncpg.Connection, bad: dict[str, Any]
) -> None:
    a = (await api.signup("a")).json()["id"]

    response = await _post(api, [event(a, "good"), {**event(a, "bad"), **bad}])

    assert response.status_code == 422
    assert response.json()["error"]["type"] == "invalid_request"
    assert await db.fetchval("SELECT count(*) FROM usage_events") == 0


async def test_unknown_customer_and_oversize_batch_are_refused(
    api: Api, db: asyncpg.Connection
) -> None:
    a = (await api.signup("a")).json()["id"]

    unknown = await _post(api, [event(a, "r1"), event("cus_ghost", "r2")])
    oversize = await _post(api, [event(a, f"r{i}") for i in range(501)])
    full = await _post(api, [event(a, f"r{i}") for i in range(500)])

    assert unknown.status_code == 422
    assert unknown.json()["error"]["code"] == "unknown_customer"
    assert unknown.json()["error"]["customer_ids"] == ["cus_ghost"]
    assert oversize.status_code == 422
    assert full.json() == {"accepted": 500, "duplicates": 0}
    assert await db.fetchval("SELECT count(*) FROM usage_events") == 500


async def test_usage_from_saturn_usage_extension_and_events(
    api: Api, saturn: FakeSaturn, db: asyncpg.Connection
) -> None:
    customer = (await api.signup("a", plan="free")).json()  # cap 100 cents = 1_000_000 micros
    cid, agent_id = customer["id"], customer["agent_id"]
    now = await _db_today(db)
    today = now.date()
    first = today.replace(day=1)
    last_month = first - timedelta(days=1)
    assert saturn.usage_days is not None
    saturn.usage_days[agent_id] = [
        {"date": today.isoformat(), "spentUsdMicros": 400_000, "calls": 2, "deniedCalls": 0,
         "capUsdCents": 100, "atCap": False},
    ]  # fmt: skip
    await _post(
        api,
        [
            event(cid, "t1", cost_usd_micros=150_000),
            event(cid, "t2", outcome="per_call_limit", cost_usd_micros=0),
            event(cid, "m1", cost_usd_micros=1_000_000,
                  occurred_at=datetime.combine(first, datetime.min.time(), UTC).isoformat()),
            event(cid, "m2", outcome="daily_limit", cost_usd_micros=0,
                  occurred_at=datetime.combine(first, datetime.min.time(), UTC).isoformat()),
            event(cid, "old", cost_usd_micros=777,
                  occurred_at=datetime.combine(last_month, datetime.min.time(), UTC).isoformat()),
        ],
    )  # fmt: skip

    for url, headers in [
        (f"/v1/customers/{cid}/usage", api.admin),
        (f"/internal/v1/customers/{cid}/usage", api.service),
    ]:
        response = await api.http.get(url, headers=headers)
        assert response.status_code == 200, response.text
        usage = response.json()
        assert usage["source"] == "saturn"
        assert usage["today"]["date"] == today.isoformat()
        assert usage["today"]["spent_usd_micros"] == 400_000  # Saturn's ledger wins
        assert usage["today"]["daily_cap_usd_cents"] == 100
        assert usage["today"]["remaining_usd_micros"] == 600_000
        resets = datetime.fromisoformat(usage["today"]["resets_at"])
        assert resets == datetime.combine(today + timedelta(days=1), datetime.min.time(), UTC)
        days = {d["date"]: d for d in usage["days"]}
        assert usage["days"][0]["date"] == first.isoformat()
        assert list(days)[-1] == today.isoformat()
        assert len(days) == today.day
        assert days[first.isoformat()]["at_cap"] is True
        assert usage["month"]["month"] == today.strftime("%Y-%m")
        if first != today:
            assert days[today.isoformat()]["requests"] == 2
            assert days[today.isoformat()]["limited_requests"] == 1
            assert days[today.isoformat()]["at_cap"] is False
            assert usage["today"]["at_cap"] is False
            assert days[first.isoformat()]["spent_usd_micros"] == 1_000_000
            assert usage["month"] == {
                "month": today.strftime("%Y-%m"), "spent_usd_micros": 1_400_000,
                "requests": 4, "limited_requests": 2, "days_at_cap": 1,
            }  # fmt: skip
        assert all(d["spent_usd_micros"] != 777 for d in usage["days"])


async def test_usage_on_a_server_without_the_extension_uses_today_spend(
    api: Api, saturn: FakeSaturn
) -> None:
    customer = (await api.signup("a", plan="free")).json()
    saturn.usage_days = None
    saturn.today_spend_usd_cents[customer["agent_id"]] = 100  # exactly the cap

    response = await api.http.get(f"/v1/customers/{customer['id']}/usage", headers=api.admin)

    assert response.status_code == 200
    usage = response.json()
    assert usage["source"] == "saturn_today"
    assert usage["today"]["spent_usd_micros"] == 1_000_000
    assert usage["today"]["remaining_usd_micros"] == 0
    assert usage["today"]["at_cap"] is True
    assert usage["month"]["days_at_cap"] == 1


async def test_usage_with_saturn_down_falls_back_to_events(api: Api, saturn: FakeSaturn) -> None:
    customer = (await api.signup("a", plan="pro")).json()
    cid = customer["id"]
    await _post(
        api,
        [
            event(cid, "r1", cost_usd_micros=5_000),
            event(cid, "r2", outcome="daily_limit", cost_usd_micros=0),
        ],
    )
    saturn.fail("usage", saturn_down())

    response = await api.http.get(f"/v1/customers/{customer['id']}/usage", headers=api.admin)

    assert response.status_code == 200
    usage = response.json()
    assert usage["source"] == "events"
    assert usage["today"]["spent_usd_micros"] == 5_000
    assert usage["today"]["at_cap"] is True  # a daily-limit refusal happened today
    assert usage["days"][-1]["requests"] == 2
    assert usage["days"][-1]["limited_requests"] == 1


async def test_usage_of_unknown_customer_is_404(api: Api) -> None:
    response = await api.http.get("/v1/customers/cus_none/usage", headers=api.admin)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "customer_not_found"
