"""Who may call what (A2), and customer access tokens."""

from __future__ import annotations

import re

import asyncpg
import pytest

from copilot_kit.crypto import Keyring
from copilot_kit.tokens import hash_secret, issue_token, verify_token
from tenant_api.config import Settings
from tenant_api.main import create_app
from tests.tenant_api.conftest import Api


def _dummy_settings() -> Settings:
    return Settings(
        database_url="postgresql://x@localhost/x",
        admin_token="a" * 32,
        service_token="s" * 32,
        token_secret="t" * 32,
        encryption_keys=Keyring.new_spec("k1"),
        saturn_admin_key="sk_agt_x",
    )


def _discovered_routes() -> list[tuple[str, str]]:
    """Every route the app serves under /v1 and /internal, so new ones are checked too."""
    # The OpenAPI document lists every route, also those of included routers.
    paths = create_app(_dummy_settings()).openapi()["paths"]
    found = {
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith(("/v1/", "/internal/"))
        for method in operations
    }
    return sorted(found)


ROUTES = _discovered_routes()
ADMIN_ROUTES = [r for r in ROUTES if r[1].startswith("/v1/")]
INTERNAL_ROUTES = [r for r in ROUTES if r[1].startswith("/internal/")]
EXPECTED = {
    ("GET", "/v1/plans"), ("PUT", "/v1/plans/{tier}"), ("POST", "/v1/customers"),
    ("GET", "/v1/customers"), ("GET", "/v1/customers/{customer_id}"),
    ("PATCH", "/v1/customers/{customer_id}"), ("POST", "/v1/customers/{customer_id}/churn"),
    ("POST", "/v1/customers/{customer_id}/access-tokens"),
    ("GET", "/v1/customers/{customer_id}/usage"),
    ("GET", "/internal/v1/customers/{customer_id}/agent"),
    ("GET", "/internal/v1/customers/{customer_id}/usage"),
    ("POST", "/internal/v1/usage-events"),
}  # fmt: skip


def _url(path: str, customer_id: str) -> str:
    path = path.replace("{customer_id}", customer_id).replace("{tier}", "free")
    return re.sub(r"\{[^}]+\}", "x", path)


async def _customer_token(api: Api) -> tuple[str, str]:
    customer = (await api.signup("acme", plan="pro")).json()
    issued = await api.http.post(
        f"/v1/customers/{customer['id']}/access-tokens", json={}, headers=api.admin
    )
    return customer["id"], issued.json()["token"]


def test_the_contract_routes_are_all_checked() -> None:
    assert set(ROUTES) >= EXPECTED, EXPECTED - set(ROUTES)


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
async def test_admin_routes_refuse_missing_customer_and_service_tokens(
    api: Api, db: asyncpg.Connection, method: str, path: str
) -> None:
    customer_id, customer_token = await _customer_token(api)
    url = _url(path, customer_id)
    before = await db.fetch("SELECT * FROM customers ORDER BY id")

    missing = await api.http.request(method, url, json={})
    wrong_scheme = await api.http.request(
        method, url, json={}, headers={"Authorization": "Basic abc"}
    )
    customer = await api.http.request(
        method, url, json={}, headers={"Authorization": f"Bearer {customer_token}"}
    )
    service = await api.http.request(method, url, json={}, headers=api.service)
    garbage = await api.http.request(
        method, url, json={}, headers={"Authorization": "Bearer not-a-token"}
    )

    assert missing.status_code == 401
    assert missing.json()["error"]["type"] == "authentication_error"
    assert wrong_scheme.status_code == 401
    assert customer.status_code == 403
    assert customer.json()["error"]["type"] == "permission_error"
    assert service.status_code == 403
    assert garbage.status_code == 401
    assert await db.fetch("SELECT * FROM customers ORDER BY id") == before


@pytest.mark.parametrize(("method", "path"), INTERNAL_ROUTES)
async def test_internal_routes_refuse_admin_and_customer_tokens(
    api: Api, method: str, path: str
) -> None:
    customer_id, customer_token = await _customer_token(api)
    url = _url(path, customer_id)

    body: dict[str, list[object]] | None = {"events": []} if method == "POST" else None
    missing = await api.http.request(method, url, json=body)
    admin = await api.http.request(method, url, json=body, headers=api.admin)
    customer = await api.http.request(
        method, url, json=body, headers={"Authorization": f"Bearer {customer_token}"}
    )
    service = await api.http.request(method, url, json=body, headers=api.service)

    assert missing.status_code == 401
    assert admin.status_code == 403
    assert customer.status_code == 403
    assert "agent_api_key" not in admin.text
    assert service.status_code == 200


async def test_access_token_verifies_and_names_exactly_that_customer(
    api: Api, db: asyncpg.Connection
) -> None:
    customer = (await api.signup("acme")).json()
    other = (await api.signup("globex")).json()

    issued = await api.http.post(
        f"/v1/customers/{customer['id']}/access-tokens",
        json={"ttl_seconds": 600},
        headers=api.admin,
    )

    assert issued.status_code == 201
    body = issued.json()
    assert set(body) == {"token", "expires_at"}
    assert body["token"].startswith("cat_")
    secret = api.settings.token_secret.get_secret_value().encode()
    claims = verify_token(body["token"], secret=secret, prefix="cat")
    assert claims.sub == customer["id"] != other["id"]
    db_now = await db.fetchval("SELECT extract(epoch FROM now())")
    assert abs(claims.exp - (float(db_now) + 600)) < 5
    rows = await db.fetch("SELECT * FROM access_tokens")
    assert len(rows) == 1
    assert rows[0]["customer_id"] == customer["id"]
    assert rows[0]["jti"] == claims.jti
    assert rows[0]["token_hash"] == hash_secret(body["token"])
    assert body["token"] not in str(dict(rows[0]))
    assert int(rows[0]["expires_at"].timestamp()) == claims.exp


async def test_default_ttl_and_no_body(api: Api) -> None:
    customer = (await api.signup("acme")).json()

    issued = await api.http.post(f"/v1/customers/{customer['id']}/access-tokens", headers=api.admin)

    assert issued.status_code == 201
    secret = api.settings.token_secret.get_secret_value().encode()
    claims = verify_token(issued.json()["token"], secret=secret, prefix="cat")
    assert claims.sub == customer["id"]


async def test_no_token_for_churned_customer(api: Api, db: asyncpg.Connection) -> None:
    customer = (await api.signup("acme")).json()
    await api.http.post(f"/v1/customers/{customer['id']}/churn", headers=api.admin)

    refused = await api.http.post(
        f"/v1/customers/{customer['id']}/access-tokens", json={}, headers=api.admin
    )

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "customer_inactive"
    assert await db.fetchval("SELECT count(*) FROM access_tokens") == 0


async def test_expired_or_foreign_customer_token_is_401_not_403(api: Api) -> None:
    secret = api.settings.token_secret.get_secret_value().encode()
    expired, _ = issue_token(secret=secret, prefix="cat", subject="cus_x", ttl_seconds=1, now=0)
    forged, _ = issue_token(secret=b"other", prefix="cat", subject="cus_x", ttl_seconds=600)

    for token in (expired, forged):
        response = await api.http.get("/v1/plans", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
