"""Bad input gets the envelope, a 4xx, and changes nothing (A3: no mass assignment)."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from tests.tenant_api.conftest import Api, FakeSaturn

OK = {"external_id": "acme", "name": "Acme", "plan": "pro"}

# (method, path, body or raw bytes, expected status, expected code)
CASES: list[tuple[str, str, Any, int, str]] = [
    ("POST", "/v1/customers", {**OK, "plan": "platinum"}, 422, "unknown_plan"),
    ("POST", "/v1/customers", {"name": "Acme", "plan": "pro"}, 422, "invalid_request"),
    ("POST", "/v1/customers", {"external_id": "acme", "plan": "pro"}, 422, "invalid_request"),
    ("POST", "/v1/customers", {**OK, "seats": "three"}, 422, "invalid_request"),
    ("POST", "/v1/customers", {**OK, "seats": "3"}, 422, "invalid_request"),
    ("POST", "/v1/customers", {**OK, "seats": True}, 422, "invalid_request"),
    ("POST", "/v1/customers", {**OK, "seats": 0}, 422, "invalid_request"),
    ("POST", "/v1/customers", {**OK, "seats": 1.5}, 422, "invalid_request"),
    ("POST", "/v1/customers", {**OK, "name": 42}, 422, "invalid_request"),
    ("POST", "/v1/customers", {**OK, "name": ""}, 422, "invalid_request"),
    ("POST", "/v1/customers", {**OK, "name": "x" * 201}, 422, "invalid_request"),
    ("POST", "/v1/customers", {**OK, "external_id": "a/b"}, 422, "invalid_request"),
    ("POST", "/v1/customers", {**OK, "external_id": "x" * 129}, 422, "invalid_request"),
    ("POST", "/v1/customers", {**OK, "status": "active"}, 422, "invalid_request"),
    ("POST", "/v1/customers", {**OK, "daily_cap_usd_cents": 10**9}, 422, "invalid_request"),
    ("POST", "/v1/customers", {**OK, "agent_id": "agt_evil"}, 422, "invalid_request"),
    ("POST", "/v1/customers", b'{"external_id": "acme",', 422, "invalid_request"),
    ("POST", "/v1/customers", b"[1, 2]", 422, "invalid_request"),
    ("POST", "/v1/customers", b"", 422, "invalid_request"),
    ("PATCH", "/v1/customers/{id}", {"plan": "platinum"}, 422, "unknown_plan"),
    ("PATCH", "/v1/customers/{id}", {"status": "churned"}, 422, "invalid_request"),
    ("PATCH", "/v1/customers/{id}", {"daily_cap_usd_cents": 99999}, 422, "invalid_request"),
    ("PATCH", "/v1/customers/{id}", {"per_call_cap_usd_cents": 9999}, 422, "invalid_request"),
    ("PATCH", "/v1/customers/{id}", {"agent_id": "agt_x"}, 422, "invalid_request"),
    ("PATCH", "/v1/customers/{id}", {"external_id": "other"}, 422, "invalid_request"),
    ("PATCH", "/v1/customers/{id}", {"name": "ok", "status": "x"}, 422, "invalid_request"),
    ("PATCH", "/v1/customers/{id}", {"name": None}, 422, "invalid_request"),
    ("PATCH", "/v1/customers/{id}", {"seats": -1}, 422, "invalid_request"),
    ("PATCH", "/v1/customers/{id}", {"name": "y" * 201}, 422, "invalid_request"),
    ("PATCH", "/v1/customers/{id}", b"{not json", 422, "invalid_request"),
    ("PATCH", "/v1/customers/cus_missing", {"name": "x"}, 404, "customer_not_found"),
    ("GET", "/v1/customers/cus_missing", None, 404, "customer_not_found"),
    ("GET", "/v1/customers?limit=0", None, 422, "invalid_request"),
    ("GET", "/v1/customers?limit=101", None, 422, "invalid_request"),
    ("GET", "/v1/customers?limit=ten", None, 422, "invalid_request"),
    ("GET", "/v1/customers?status=deleted", None, 422, "invalid_request"),
    ("GET", "/v1/customers?cursor=bm9wZQ.bm9wZQ", None, 422, "invalid_cursor"),
    ("POST", "/v1/customers/{id}/access-tokens", {"ttl_seconds": 5}, 422, "invalid_request"),
    ("POST", "/v1/customers/{id}/access-tokens", {"ttl_seconds": "60"}, 422, "invalid_request"),
    ("POST", "/v1/customers/{id}/access-tokens", {"sub": "cus_other"}, 422, "invalid_request"),
    ("PUT", "/v1/plans/pro", {"name": "Pro"}, 422, "invalid_request"),
    ("PUT", "/v1/plans/Bad Tier", {"name": "x"}, 422, "invalid_request"),
    (
        "PUT",
        "/v1/plans/pro",
        {
            "name": "Pro",
            "daily_cap_usd_cents": 100,
            "per_call_cap_usd_cents": 200,
            "seat_price_usd_cents": 5000,
        },
        422,
        "invalid_request",
    ),
    (
        "PUT",
        "/v1/plans/pro",
        {
            "name": "Pro",
            "daily_cap_usd_cents": 0,
            "per_call_cap_usd_cents": 0,
            "seat_price_usd_cents": 5000,
        },
        422,
        "invalid_request",
    ),
    (
        "PUT",
        "/v1/plans/pro",
        {
            "name": "Pro",
            "daily_cap_usd_cents": 100,
            "per_call_cap_usd_cents": 10,
            "seat_price_usd_cents": 5000,
            "tier": "enterprise",
        },
        422,
        "invalid_request",
    ),
    ("POST", "/v1/customers", {**OK, "name": "a\x00b"}, 422, "invalid_request"),
    ("PATCH", "/v1/customers/{id}", {"name": "a\x00b"}, 422, "invalid_request"),
    ("GET", "/v1/customers/cus_%00", None, 404, "customer_not_found"),
    ("GET", "/v1/customers/" + "x" * 5000, None, 404, "customer_not_found"),
    ("GET", "/v1/customers?plan=a%00", None, 422, "invalid_request"),
    ("GET", "/v1/customers?external_id=a%00", None, 422, "invalid_request"),
    ("GET", "/v1/nowhere", None, 404, "not_found"),
    ("DELETE", "/v1/customers/{id}", None, 405, "method_not_allowed"),
]


async def _snapshot(db: asyncpg.Connection) -> list[list[asyncpg.Record]]:
    return [
        await db.fetch(f"SELECT * FROM {table} ORDER BY 1")
        for table in ("plans", "customers", "access_tokens")
    ]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    CASES,
    ids=[f"{i:02d}-{c[0]}-{c[4]}" for i, c in enumerate(CASES)],
)
async def test_bad_input_gets_envelope_and_changes_nothing(
    api: Api,
    saturn: FakeSaturn,
    db: asyncpg.Connection,
    method: str,
    path: str,
    body: Any,
    status: int,
    code: str,
) -> None:
    customer = (await api.signup("existing", plan="free")).json()
    before = await _snapshot(db)
    saturn.log.clear()
    kwargs: dict[str, Any] = {"headers": {**api.admin}}
    if isinstance(body, bytes):
        kwargs["content"] = body
        kwargs["headers"]["Content-Type"] = "application/json"
    elif body is not None:
        kwargs["json"] = body

    response = await api.http.request(method, path.replace("{id}", customer["id"]), **kwargs)

    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["type"]
    assert error["message"]
    assert await _snapshot(db) == before
    assert saturn.log == []


async def test_validation_error_names_the_field(api: Api) -> None:
    response = await api.http.post(
        "/v1/customers", json={**OK, "daily_cap_usd_cents": 1}, headers=api.admin
    )

    error = response.json()["error"]
    assert error["type"] == "invalid_request"
    assert [f["field"] for f in error["fields"]] == ["daily_cap_usd_cents"]
    assert "daily_cap_usd_cents" in error["message"]
