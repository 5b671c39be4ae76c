"""Plans are seeded data; a cap change reaches every active customer at Saturn."""

from __future__ import annotations

import asyncpg
import pytest

from tests.tenant_api.conftest import Api, FakeSaturn, saturn_down, saturn_timeout

PRO = {
    "name": "Pro",
    "daily_cap_usd_cents": 2000,
    "per_call_cap_usd_cents": 150,
    "seat_price_usd_cents": 5000,
    "burst_multiplier_percent": 200,
    "burst_days_per_month": 3,
    "rollover_max_usd_cents": 500,
    "upgrade_url": "/pricing",
}


async def test_plans_are_seeded(api: Api) -> None:
    response = await api.http.get("/v1/plans", headers=api.admin)

    assert response.status_code == 200
    plans = {p["tier"]: p for p in response.json()["data"]}
    assert list(plans) == ["free", "pro", "enterprise"]
    caps = {t: (p["daily_cap_usd_cents"], p["per_call_cap_usd_cents"]) for t, p in plans.items()}
    assert caps == {"free": (100, 25), "pro": (1000, 100), "enterprise": (10000, 500)}
    assert {p["upgrade_url"] for p in plans.values()} == {"/pricing"}
    assert {p["burst_multiplier_percent"] for p in plans.values()} == {200}
    assert set(plans["pro"]) == {"tier", *PRO}


async def test_put_creates_a_plan(api: Api, saturn: FakeSaturn) -> None:
    body = {**PRO, "name": "Team", "daily_cap_usd_cents": 300, "per_call_cap_usd_cents": 30}

    created = await api.http.put("/v1/plans/team", json=body, headers=api.admin)
    again = await api.http.put("/v1/plans/team", json=body, headers=api.admin)

    assert created.status_code == 201
    assert created.json() == {"tier": "team", **body}
    assert again.status_code == 200
    signup = await api.signup("acme", plan="team")
    assert signup.json()["daily_cap_usd_cents"] == 300
    assert saturn.calls("policy") == [{"maxPerCallUsdCents": 30, "maxPerDayUsdCents": 300}]


async def test_cap_change_reaches_every_active_customer_on_the_plan(
    api: Api, saturn: FakeSaturn, db: asyncpg.Connection
) -> None:
    pro = [(await api.signup(f"p{i}", plan="pro")).json() for i in range(3)]
    free = (await api.signup("f0", plan="free")).json()
    await api.http.post(f"/v1/customers/{pro[2]['id']}/churn", headers=api.admin)
    saturn.log.clear()

    response = await api.http.put("/v1/plans/pro", json=PRO, headers=api.admin)

    assert response.status_code == 200
    assert response.json()["daily_cap_usd_cents"] == 2000
    patched = sorted(path for op, path, _ in saturn.log if op == "policy")
    assert patched == sorted(f"/v1/agents/{c['agent_id']}/policy" for c in pro[:2])
    for customer in pro[:2]:
        agent = saturn.agents[customer["agent_id"]]
        assert (agent.max_per_day_usd_cents, agent.max_per_call_usd_cents) == (2000, 150)
        shown = await api.http.get(f"/v1/customers/{customer['id']}", headers=api.admin)
        assert shown.json()["daily_cap_usd_cents"] == 2000
    assert saturn.agents[free["agent_id"]].max_per_day_usd_cents == 100
    assert await db.fetchval("SELECT daily_cap_usd_cents FROM plans WHERE tier='pro'") == 2000


@pytest.mark.parametrize("failure", [saturn_down(), saturn_timeout()])
async def test_cap_change_with_saturn_failing_restores_and_keeps_plan(
    api: Api, saturn: FakeSaturn, db: asyncpg.Connection, failure: object
) -> None:
    pro = [(await api.signup(f"p{i}", plan="pro")).json() for i in range(3)]
    saturn.log.clear()
    saturn.fail("policy", failure)  # type: ignore[arg-type]

    response = await api.http.put("/v1/plans/pro", json=PRO, headers=api.admin)

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "saturn_unavailable"
    for customer in pro:
        agent = saturn.agents[customer["agent_id"]]
        assert (agent.max_per_day_usd_cents, agent.max_per_call_usd_cents) == (1000, 100)
    assert await db.fetchval("SELECT daily_cap_usd_cents FROM plans WHERE tier='pro'") == 1000
    caps = await db.fetch("SELECT DISTINCT daily_cap_usd_cents FROM customers")
    assert [r[0] for r in caps] == [1000]


async def test_non_cap_change_does_not_call_saturn(api: Api, saturn: FakeSaturn) -> None:
    await api.signup("p0", plan="pro")
    saturn.log.clear()
    body = {**PRO, "daily_cap_usd_cents": 1000, "per_call_cap_usd_cents": 100, "name": "Pro+"}

    response = await api.http.put("/v1/plans/pro", json=body, headers=api.admin)

    assert response.status_code == 200
    assert response.json()["name"] == "Pro+"
    assert saturn.log == []
