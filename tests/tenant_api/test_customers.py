"""Reads, listing with cursors, plan/name/seat changes and churn."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from tests.tenant_api.conftest import Api, FakeSaturn, saturn_down, saturn_timeout


async def test_get_customer_shows_contract_fields_only(api: Api) -> None:
    created = (await api.signup("acme", plan="free")).json()

    got = await api.http.get(f"/v1/customers/{created['id']}", headers=api.admin)

    assert got.status_code == 200
    assert set(got.json()) == {
        "id", "external_id", "name", "plan", "seats", "status", "agent_id",
        "agent_key_last4", "daily_cap_usd_cents", "per_call_cap_usd_cents",
        "created_at", "updated_at",
    }  # fmt: skip
    assert got.json() == created


async def test_unknown_customer_is_404_everywhere(api: Api) -> None:
    for method, path in [
        ("GET", "/v1/customers/cus_nope"),
        ("PATCH", "/v1/customers/cus_nope"),
        ("POST", "/v1/customers/cus_nope/churn"),
        ("POST", "/v1/customers/cus_nope/access-tokens"),
    ]:
        response = await api.http.request(method, path, json={}, headers=api.admin)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "customer_not_found"
    internal = await api.http.get("/internal/v1/customers/cus_nope/agent", headers=api.service)
    assert internal.status_code == 404


async def test_list_walks_pages_with_opaque_cursor_and_filters(api: Api) -> None:
    ids = []
    for i in range(7):
        response = await api.signup(f"c{i}", plan="pro" if i % 2 else "free")
        ids.append(response.json()["id"])
    await api.http.post(f"/v1/customers/{ids[0]}/churn", headers=api.admin)

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = await api.http.get("/v1/customers", params=params, headers=api.admin)
        assert page.status_code == 200
        seen += [c["id"] for c in page.json()["data"]]
        cursor = page.json()["next_cursor"]
        pages += 1
        if cursor is None:
            break
    assert pages == 3
    assert seen == ids  # oldest first, every customer exactly once

    pro = await api.http.get("/v1/customers?plan=pro&limit=100", headers=api.admin)
    assert [c["id"] for c in pro.json()["data"]] == ids[1::2]
    assert pro.json()["next_cursor"] is None
    churned = await api.http.get("/v1/customers?status=churned", headers=api.admin)
    assert [c["id"] for c in churned.json()["data"]] == [ids[0]]
    active_free = await api.http.get("/v1/customers?status=active&plan=free", headers=api.admin)
    assert [c["id"] for c in active_free.json()["data"]] == ids[2::2]
    by_ext = await api.http.get("/v1/customers?external_id=c4", headers=api.admin)
    assert [c["id"] for c in by_ext.json()["data"]] == [ids[4]]


@pytest.mark.parametrize("cursor", ["garbage", "Zm9v.YmFy", "MjAyNS0wMS0wMXxjdXNfeA.AAAA"])
async def test_cursor_never_issued_is_422(api: Api, cursor: str) -> None:
    response = await api.http.get("/v1/customers", params={"cursor": cursor}, headers=api.admin)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_cursor"


async def test_tampered_cursor_is_422(api: Api) -> None:
    for i in range(3):
        await api.signup(f"c{i}")
    first = await api.http.get("/v1/customers?limit=1", headers=api.admin)
    cursor = first.json()["next_cursor"]
    head, _, mac = cursor.partition(".")
    forged = head[:-2] + ("AA" if head[-2:] != "AA" else "BB") + "." + mac

    response = await api.http.get("/v1/customers", params={"cursor": forged}, headers=api.admin)

    assert response.status_code == 422


async def test_plan_change_reaches_saturn_before_200(
    api: Api, saturn: FakeSaturn, db: asyncpg.Connection
) -> None:
    created = (await api.signup("acme", plan="free")).json()
    saturn.log.clear()

    changed = await api.http.patch(
        f"/v1/customers/{created['id']}", json={"plan": "enterprise"}, headers=api.admin
    )

    assert changed.status_code == 200, changed.text
    assert changed.json()["plan"] == "enterprise"
    assert (changed.json()["daily_cap_usd_cents"], changed.json()["per_call_cap_usd_cents"]) == (
        10000,
        500,
    )
    assert saturn.calls("policy") == [{"maxPerCallUsdCents": 500, "maxPerDayUsdCents": 10000}]
    agent = saturn.agents[created["agent_id"]]
    assert (agent.max_per_call_usd_cents, agent.max_per_day_usd_cents) == (500, 10000)
    assert await db.fetchval("SELECT plan_tier FROM customers") == "enterprise"


@pytest.mark.parametrize(
    "failure",
    [
        saturn_down(),
        saturn_timeout(),
        # Saturn refusing (a 4xx) is as final as it being down: the plan stays.
        pytest.param(
            httpx.Response(400, json={"error": {"code": "VALIDATION_ERROR", "message": "bad cap"}}),
            id="refused",
        ),
    ],
)
async def test_plan_change_refused_by_saturn_leaves_plan_unchanged(
    api: Api, saturn: FakeSaturn, failure: object
) -> None:
    created = (await api.signup("acme", plan="free")).json()
    saturn.fail("policy", failure)  # type: ignore[arg-type]

    response = await api.http.patch(
        f"/v1/customers/{created['id']}", json={"plan": "pro", "name": "New"}, headers=api.admin
    )

    assert response.status_code == 503
    assert response.json()["error"]["code"] in {"saturn_unavailable", "saturn_refused"}
    after = await api.http.get(f"/v1/customers/{created['id']}", headers=api.admin)
    assert after.json() == created
    agent = saturn.agents[created["agent_id"]]
    assert agent.max_per_day_usd_cents == 100
    retried = await api.http.patch(
        f"/v1/customers/{created['id']}", json={"plan": "pro"}, headers=api.admin
    )
    assert retried.json()["plan"] == "pro"
    assert agent.max_per_day_usd_cents == 1000


async def test_name_and_seats_change_without_saturn(api: Api, saturn: FakeSaturn) -> None:
    created = (await api.signup("acme")).json()
    saturn.log.clear()

    changed = await api.http.patch(
        f"/v1/customers/{created['id']}", json={"name": "Acme 2", "seats": 12}, headers=api.admin
    )

    assert changed.status_code == 200
    assert (changed.json()["name"], changed.json()["seats"]) == ("Acme 2", 12)
    assert changed.json()["updated_at"] > created["updated_at"]
    assert saturn.log == []


async def test_churn_suspends_destroys_key_and_repeat_is_harmless(
    api: Api, saturn: FakeSaturn, db: asyncpg.Connection
) -> None:
    created = (await api.signup("acme")).json()
    saturn.log.clear()

    first = await api.http.post(f"/v1/customers/{created['id']}/churn", headers=api.admin)
    second = await api.http.post(f"/v1/customers/{created['id']}/churn", headers=api.admin)

    assert first.status_code == second.status_code == 200
    assert first.json()["status"] == "churned"
    assert first.json()["agent_key_last4"] is None
    assert second.json() == first.json()
    assert saturn.calls("status") == [{"status": "suspended"}]
    assert saturn.agents[created["agent_id"]].status == "suspended"
    row = await db.fetchrow("SELECT * FROM customers")
    assert row["agent_key_ciphertext"] is None
    assert row["agent_key_kid"] is None
    resolved = await api.http.get(
        f"/internal/v1/customers/{created['id']}/agent", headers=api.service
    )
    assert resolved.json()["status"] == "churned"
    assert resolved.json()["agent_api_key"] is None
    plan_change = await api.http.patch(
        f"/v1/customers/{created['id']}", json={"plan": "pro"}, headers=api.admin
    )
    assert plan_change.status_code == 409


@pytest.mark.parametrize("failure", [saturn_down(), saturn_timeout()])
async def test_churn_with_saturn_failing_changes_nothing_and_retry_completes(
    api: Api, saturn: FakeSaturn, db: asyncpg.Connection, failure: object
) -> None:
    created = (await api.signup("acme")).json()
    saturn.fail("status", failure)  # type: ignore[arg-type]

    failed = await api.http.post(f"/v1/customers/{created['id']}/churn", headers=api.admin)

    assert failed.status_code == 503
    assert await db.fetchval("SELECT status FROM customers") == "active"
    assert await db.fetchval("SELECT agent_key_ciphertext IS NOT NULL FROM customers")
    retried = await api.http.post(f"/v1/customers/{created['id']}/churn", headers=api.admin)
    assert retried.json()["status"] == "churned"
    assert saturn.agents[created["agent_id"]].status == "suspended"


async def test_churning_a_pending_customer_suspends_the_orphan(
    api: Api, saturn: FakeSaturn
) -> None:
    saturn.fail("policy", saturn_down())
    await api.signup("acme")
    (orphan,) = saturn.by_name("customer-acme")
    listed = (await api.http.get("/v1/customers", headers=api.admin)).json()["data"]

    churned = await api.http.post(f"/v1/customers/{listed[0]['id']}/churn", headers=api.admin)

    assert churned.json()["status"] == "churned"
    assert orphan.status == "suspended"
