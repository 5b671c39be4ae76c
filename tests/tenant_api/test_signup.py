"""Signup: the agent, its caps, the encrypted key, idempotency and every Saturn failure."""

from __future__ import annotations

import asyncpg
import pytest

from tests.tenant_api.conftest import Api, FakeSaturn, saturn_down, saturn_timeout


async def test_signup_creates_capped_agent_and_stores_key_encrypted(
    api: Api, saturn: FakeSaturn, db: asyncpg.Connection
) -> None:
    response = await api.signup("acme", plan="pro", name="Acme Inc", seats=3)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "active"
    assert body["plan"] == "pro"
    assert body["seats"] == 3
    assert (body["daily_cap_usd_cents"], body["per_call_cap_usd_cents"]) == (1000, 100)
    assert body["id"].startswith("cus_")
    (agent,) = saturn.by_name("customer-acme")
    assert body["agent_id"] == agent.id
    assert body["agent_key_last4"] == agent.api_key[-4:]
    assert "agent_api_key" not in body
    assert agent.api_key not in response.text
    # The caps went in a policy PATCH after the create, in Saturn's field names.
    assert saturn.ops() == ["list", "create", "policy"]
    assert saturn.calls("create") == [
        {"name": "customer-acme", "metadata": {"customer_id": body["id"], "external_id": "acme"}}
    ]
    assert saturn.calls("policy") == [{"maxPerCallUsdCents": 100, "maxPerDayUsdCents": 1000}]
    assert (agent.max_per_call_usd_cents, agent.max_per_day_usd_cents) == (100, 1000)
    row = await db.fetchrow("SELECT * FROM customers WHERE id = $1", body["id"])
    assert row["agent_key_kid"] == "k1"
    assert agent.api_key.encode() not in row["agent_key_ciphertext"]
    assert len(row["agent_key_ciphertext"]) > len(agent.api_key)


async def test_same_request_again_returns_same_customer_without_second_agent(
    api: Api, saturn: FakeSaturn
) -> None:
    first = await api.signup("acme", plan="pro")
    again = await api.signup("acme", plan="pro")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert len(saturn.agents) == 1
    assert saturn.ops().count("create") == 1


@pytest.mark.parametrize("change", [{"plan": "enterprise"}, {"name": "Someone Else"}, {"seats": 9}])
async def test_same_external_id_with_different_details_is_409(
    api: Api, saturn: FakeSaturn, change: dict[str, object]
) -> None:
    first = await api.signup("acme", plan="pro", name="Acme")
    body = {"external_id": "acme", "name": "Acme", "plan": "pro", **change}
    conflict = await api.http.post("/v1/customers", json=body, headers=api.admin)

    assert conflict.status_code == 409
    error = conflict.json()["error"]
    assert error["code"] == "customer_conflict"
    assert error["customer_id"] == first.json()["id"]
    assert error["fields"] == list(change)
    assert len(saturn.agents) == 1
    current = await api.http.get(f"/v1/customers/{first.json()['id']}", headers=api.admin)
    assert current.json() == first.json()


@pytest.mark.parametrize(
    ("operation", "failure"),
    [
        ("list", saturn_down()),
        ("list", saturn_timeout()),
        ("create", saturn_down()),
        ("create", saturn_timeout()),
        ("policy", saturn_down()),
        ("policy", saturn_timeout()),
    ],
)
async def test_saturn_failing_at_each_step_leaves_no_active_customer_and_retry_completes(
    api: Api,
    saturn: FakeSaturn,
    db: asyncpg.Connection,
    operation: str,
    failure: Exception,
) -> None:
    saturn.fail(operation, failure)

    failed = await api.signup("acme", plan="pro")

    assert failed.status_code == 503
    assert failed.json()["error"]["code"] == "saturn_unavailable"
    row = await db.fetchrow("SELECT * FROM customers WHERE external_id = 'acme'")
    assert row["status"] == "pending"
    assert row["agent_key_ciphertext"] is None
    assert row["signup_lease_until"] is None  # released, so a retry may proceed at once
    listed = await api.http.get("/v1/customers", headers=api.admin)
    assert [c["status"] for c in listed.json()["data"]] == ["pending"]
    active = await api.http.get("/v1/customers?status=active", headers=api.admin)
    assert active.json()["data"] == []
    shown = await api.http.get(f"/v1/customers/{row['id']}", headers=api.admin)
    assert shown.json()["status"] == "pending"
    resolved = await api.http.get(f"/internal/v1/customers/{row['id']}/agent", headers=api.service)
    assert resolved.json()["status"] == "pending"
    assert resolved.json()["agent_api_key"] is None

    retried = await api.signup("acme", plan="pro")

    assert retried.status_code == 201, retried.text
    assert retried.json()["id"] == row["id"]
    assert retried.json()["status"] == "active"
    (agent,) = saturn.by_name("customer-acme")  # an agent made by the failed try is reused
    assert retried.json()["agent_id"] == agent.id
    assert (agent.max_per_call_usd_cents, agent.max_per_day_usd_cents) == (100, 1000)
    assert retried.json()["agent_key_last4"] == agent.api_key[-4:]
    resolved = await api.http.get(f"/internal/v1/customers/{row['id']}/agent", headers=api.service)
    assert resolved.json()["agent_api_key"] == agent.api_key


async def test_orphan_agent_gets_caps_before_its_new_key(api: Api, saturn: FakeSaturn) -> None:
    saturn.fail("policy", saturn_down())
    assert (await api.signup("acme")).status_code == 503
    (orphan,) = saturn.by_name("customer-acme")
    lost_key = orphan.api_key
    saturn.log.clear()

    retried = await api.signup("acme")

    assert retried.status_code == 201
    assert saturn.ops() == ["list", "policy", "regenerate"]
    assert orphan.api_key != lost_key  # the key of the failed attempt is dead
    assert retried.json()["agent_key_last4"] == orphan.api_key[-4:]


async def test_regenerate_failing_on_retry_still_leaves_pending(
    api: Api, saturn: FakeSaturn, db: asyncpg.Connection
) -> None:
    saturn.fail("policy", saturn_down())
    await api.signup("acme")
    saturn.fail("regenerate", saturn_timeout())

    assert (await api.signup("acme")).status_code == 503
    assert await db.fetchval("SELECT status FROM customers") == "pending"
    assert (await api.signup("acme")).status_code == 201
    assert len(saturn.agents) == 1


async def test_signup_in_progress_is_not_run_twice(
    api: Api, saturn: FakeSaturn, db: asyncpg.Connection
) -> None:
    saturn.fail("policy", saturn_down())
    await api.signup("acme")
    # Another attempt holds the lease (e.g. still waiting on Saturn).
    await db.execute("UPDATE customers SET signup_lease_until = now() + interval '1 minute'")
    saturn.log.clear()

    busy = await api.signup("acme")

    assert busy.status_code == 409
    assert busy.json()["error"]["code"] == "signup_in_progress"
    assert saturn.log == []
