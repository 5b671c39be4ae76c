"""Agent keys at rest (E1, E2) and no plaintext key anywhere after a lifecycle (E3)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from copilot_kit.crypto import Keyring
from copilot_kit.saturn.client import SaturnClient
from tenant_api.config import Settings
from tenant_api.crypto_rotation import rotate_encryption_key
from tenant_api.main import create_app
from tests.tenant_api.conftest import SATURN_ADMIN_KEY, SATURN_URL, Api, FakeSaturn, saturn_down


async def _resolve(api: Api, customer_id: str) -> httpx.Response:
    return await api.http.get(f"/internal/v1/customers/{customer_id}/agent", headers=api.service)


async def test_round_trip_through_internal_route(api: Api, saturn: FakeSaturn) -> None:
    customer = (await api.signup("acme", plan="pro")).json()

    resolved = await _resolve(api, customer["id"])

    assert resolved.status_code == 200
    assert resolved.json() == {
        "customer_id": customer["id"],
        "status": "active",
        "plan": "pro",
        "agent_id": customer["agent_id"],
        "agent_api_key": saturn.agents[customer["agent_id"]].api_key,
        "daily_cap_usd_cents": 1000,
        "per_call_cap_usd_cents": 100,
        "upgrade_url": "/pricing",
        "burst_days_per_month": 3,
    }


async def test_ciphertext_copied_to_another_customer_does_not_decrypt(
    api: Api, db: asyncpg.Connection, saturn: FakeSaturn
) -> None:
    a = (await api.signup("a")).json()
    b = (await api.signup("b")).json()
    await db.execute(
        "UPDATE customers SET agent_key_ciphertext ="
        " (SELECT agent_key_ciphertext FROM customers WHERE id = $1) WHERE id = $2",
        a["id"],
        b["id"],
    )

    resolved = await _resolve(api, b["id"])

    assert resolved.status_code == 503
    assert resolved.json()["error"]["code"] == "agent_key_unreadable"
    assert saturn.agents[a["agent_id"]].api_key not in resolved.text
    assert (await _resolve(api, a["id"])).status_code == 200


async def test_flipped_byte_does_not_decrypt(api: Api, db: asyncpg.Connection) -> None:
    customer = (await api.signup("a")).json()
    blob = bytearray(await db.fetchval("SELECT agent_key_ciphertext FROM customers"))
    blob[-5] ^= 0x01
    await db.execute("UPDATE customers SET agent_key_ciphertext = $1", bytes(blob))

    resolved = await _resolve(api, customer["id"])

    assert resolved.status_code == 503
    assert resolved.json()["error"]["type"] == "service_unavailable"


async def _app_with(settings: Settings, saturn: FakeSaturn) -> AsyncIterator[Api]:
    client = SaturnClient(
        base_url=SATURN_URL, api_key=SATURN_ADMIN_KEY, max_retries=0, transport=saturn.transport()
    )
    app = create_app(settings, saturn_client=client)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        yield Api(http=http, settings=settings)
    await client.aclose()


async def test_rotation_reencrypts_every_key_and_old_key_can_go(
    api: Api, settings: Settings, saturn: FakeSaturn, db: asyncpg.Connection, keyring_spec: str
) -> None:
    customers = [(await api.signup(f"c{i}")).json() for i in range(4)]
    await api.http.post(f"/v1/customers/{customers[3]['id']}/churn", headers=api.admin)
    before = {r["id"]: r["agent_key_ciphertext"] for r in await db.fetch("SELECT * FROM customers")}
    new_spec = Keyring.new_spec("k2")

    count = await rotate_encryption_key(
        settings.database_url, Keyring.parse(f"{new_spec},{keyring_spec}")
    )

    assert count == 3
    rows = await db.fetch("SELECT * FROM customers WHERE agent_key_ciphertext IS NOT NULL")
    assert {r["agent_key_kid"] for r in rows} == {"k2"}
    assert all(r["agent_key_ciphertext"] != before[r["id"]] for r in rows)
    new_only = settings.model_copy(update={"encryption_keys": SecretStr(new_spec)})
    async for rotated in _app_with(new_only, saturn):
        for customer in customers[:3]:
            resolved = await _resolve(rotated, customer["id"])
            assert resolved.status_code == 200
            assert resolved.json()["agent_api_key"] == saturn.agents[customer["agent_id"]].api_key


async def test_rotation_with_a_missing_old_key_changes_nothing(
    api: Api, settings: Settings, db: asyncpg.Connection
) -> None:
    for i in range(2):
        await api.signup(f"c{i}")
    before = await db.fetch("SELECT id, agent_key_ciphertext FROM customers ORDER BY id")

    with pytest.raises(Exception, match="no key with id"):
        await rotate_encryption_key(settings.database_url, Keyring.parse(Keyring.new_spec("k9")))

    assert await db.fetch("SELECT id, agent_key_ciphertext FROM customers ORDER BY id") == before


async def test_no_plaintext_key_in_logs_responses_or_database_after_lifecycle(
    api: Api, saturn: FakeSaturn, db: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bodies: list[str] = []
    internal_keys: list[str] = []

    async def call(method: str, url: str, **kw: object) -> httpx.Response:
        response = await api.http.request(method, url, **kw)  # type: ignore[arg-type]
        bodies.append(response.text)
        return response

    acme = {"external_id": "acme", "name": "Acme", "plan": "free"}
    beta_body = {"external_id": "beta", "name": "Beta", "plan": "free"}
    created = await call("POST", "/v1/customers", headers=api.admin, json=acme)
    cid = created.json()["id"]
    await call("POST", "/v1/customers", headers=api.admin, json=acme)
    await call("PATCH", f"/v1/customers/{cid}", json={"plan": "pro"}, headers=api.admin)
    await call("POST", f"/v1/customers/{cid}/access-tokens", json={}, headers=api.admin)
    await call("GET", f"/v1/customers/{cid}", headers=api.admin)
    await call("GET", "/v1/customers", headers=api.admin)
    resolved = await api.http.get(f"/internal/v1/customers/{cid}/agent", headers=api.service)
    internal_keys.append(resolved.json()["agent_api_key"])
    bodies.append(resolved.text.replace(resolved.json()["agent_api_key"], ""))
    await call("PATCH", f"/v1/customers/{cid}", json={"agent_api_key": "x"}, headers=api.admin)
    saturn.fail("policy", saturn_down())  # a failed signup and its retry log too
    await call("POST", "/v1/customers", headers=api.admin, json=beta_body)
    beta = await call("POST", "/v1/customers", headers=api.admin, json=beta_body)
    assert beta.status_code == 201
    key = saturn.agents[created.json()["agent_id"]].api_key
    beta_key = saturn.agents[beta.json()["agent_id"]].api_key
    secrets = {key, key[7:], key[:-4], beta_key, beta_key[7:]}  # also without the prefix
    db_hits_before_churn = await _db_hits(db, secrets)
    await call("POST", f"/v1/customers/{cid}/churn", headers=api.admin)
    await call("GET", f"/internal/v1/customers/{cid}/agent", headers=api.service)

    assert internal_keys == [key]  # the one place the key is meant to appear
    log_text = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    assert caplog.records  # the capture really ran
    for secret in secrets:
        assert secret not in log_text
        assert all(secret not in body for body in bodies)
    assert await _db_hits(db, secrets) == []
    assert db_hits_before_churn == []


async def _db_hits(db: asyncpg.Connection, secrets: set[str]) -> list[str]:
    """Every text/bytea/json column of every table whose value contains a secret."""
    columns = await db.fetch(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = 'public'"
        " AND data_type IN ('text', 'bytea', 'character varying', 'jsonb', 'json')"
    )
    assert {c["table_name"] for c in columns} >= {"customers", "access_tokens", "plans"}
    hits = []
    for column in columns:
        table, name = column["table_name"], column["column_name"]
        for row in await db.fetch(f'SELECT "{name}" AS v FROM "{table}"'):
            value = row["v"]
            data = value if isinstance(value, bytes) else str(value or "").encode()
            hits += [f"{table}.{name}" for secret in secrets if secret.encode() in data]
    return hits
