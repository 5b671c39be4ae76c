"""A4 for tenant-api: every operation of its OpenAPI, fuzzed with admin / service / customer /
no tokens against a real database and a faked Saturn: never a 5xx, every response as
documented, every error in the project envelope."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator

import httpx
import pytest

from copilot_kit.crypto import Keyring
from copilot_kit.saturn.client import SaturnClient
from copilot_kit.tokens import issue_token
from tenant_api.config import Settings
from tenant_api.main import create_app
from tests.contract.harness import Target, load_operations, project_envelope, run_fuzz
from tests.tenant_api.conftest import SATURN_ADMIN_KEY, SATURN_URL, FakeSaturn

# CONTRACT_MAX_EXAMPLES=200 for a deeper local hunt; CI keeps the suite fast.
MAX_EXAMPLES = int(os.environ.get("CONTRACT_MAX_EXAMPLES", "20"))


def _settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        admin_token="adm_" + secrets.token_hex(16),
        service_token="svc_" + secrets.token_hex(16),
        token_secret=secrets.token_hex(32),
        encryption_keys=Keyring.new_spec("k1"),
        saturn_base_url=SATURN_URL,
        saturn_admin_key=SATURN_ADMIN_KEY,
    )


# Built once at import: the document does not depend on the database or the tokens.
OPERATIONS = load_operations(
    create_app(_settings("postgresql://unused/unused"), run_scheduler=False).openapi()
)


@pytest.fixture
async def app_http(tenant_db_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, Settings]]:
    settings = _settings(tenant_db_url)
    saturn = FakeSaturn()
    client = SaturnClient(
        base_url=SATURN_URL, api_key=SATURN_ADMIN_KEY, max_retries=0, transport=saturn.transport()
    )
    app = create_app(settings, saturn_client=client, run_scheduler=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://tenant-api",
        ) as http,
    ):
        yield http, settings
    await client.aclose()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _seed(http: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, list[str]]:
    """One customer and one webhook endpoint, so generated ids sometimes hit real rows."""
    resp = await http.post(
        "/v1/customers",
        json={"external_id": "contract-1", "name": "Contract Co", "plan": "pro"},
        headers=admin,
    )
    assert resp.status_code == 201, resp.text
    customer_id = resp.json()["id"]
    resp = await http.post(
        "/v1/webhook-endpoints",
        json={"url": "https://hooks.example.com/x", "events": ["usage.threshold_reached"]},
        headers=admin,
    )
    assert resp.status_code == 201, resp.text
    return {
        "customer_id": [customer_id],
        "endpoint_id": [resp.json()["id"]],
        "tier": ["free", "pro", "enterprise"],
    }


@pytest.mark.parametrize("label", sorted(OPERATIONS))
async def test_tenant_api_operation(
    label: str, app_http: tuple[httpx.AsyncClient, Settings]
) -> None:
    http, settings = app_http
    admin = _bearer(settings.admin_token.get_secret_value())
    service = _bearer(settings.service_token.get_secret_value())
    known = await _seed(http, admin)
    customer_token, _ = issue_token(
        secret=settings.token_secret.get_secret_value().encode(),
        prefix="cat",
        subject=known["customer_id"][0],
        ttl_seconds=600,
    )
    internal = " /internal/" in label
    target = Target(
        http=http,
        loop=asyncio.get_running_loop(),
        auth={
            "valid": service if internal else admin,
            "wrong": admin if internal else service,
            "customer": _bearer(customer_token),
            "none": {},
        },
        envelope=project_envelope,
        known_ids=known,
        known_body={"plan": known["tier"]},
    )
    await run_fuzz(
        OPERATIONS[label],
        target,
        MAX_EXAMPLES,
        auth_weights=("valid", "valid", "valid", "valid", "none", "wrong", "customer"),
    )
    # Which tokens hypothesis happens to pick is not guaranteed, so refusals are not asserted
    # here: tests/tenant_api/test_auth_tokens.py checks 401/403 on every route explicitly.
    assert target.seen, "no request was sent"
