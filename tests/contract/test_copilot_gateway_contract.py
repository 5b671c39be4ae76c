"""A4 for copilot-gateway: every operation of its OpenAPI, fuzzed with a customer token, a
customer with no account, an expired or foreign token and none, with tenant-api and Saturn
faked at the HTTP level (both answering): never a 5xx, every response as documented,
every error in the project envelope."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import httpx
import jsonschema_rs
import pytest
import respx

from copilot_gateway.main import create_app
from tests.contract.harness import Target, load_operations, project_envelope, run_fuzz
from tests.copilot_gateway.conftest import (
    SATURN_URL,
    TENANT_URL,
    FakeSaturn,
    FakeTenantApi,
    make_settings,
    token_for,
)
from tests.copilot_gateway.test_usage_route import USAGE

# CONTRACT_MAX_EXAMPLES=200 for a deeper local hunt; CI keeps the suite fast.
MAX_EXAMPLES = int(os.environ.get("CONTRACT_MAX_EXAMPLES", "25"))

OPERATIONS = load_operations(create_app(make_settings()).openapi())


@pytest.fixture
async def gateway_http() -> AsyncIterator[httpx.AsyncClient]:
    tenant = FakeTenantApi(respx.MockRouter(base_url=TENANT_URL, assert_all_called=False))
    saturn = FakeSaturn(respx.MockRouter(base_url=SATURN_URL, assert_all_called=False))
    tenant.install()
    saturn.install()
    tenant.add("cus_a")
    tenant.usage_payload = USAGE
    app = create_app(
        make_settings(),
        saturn_transport=httpx.MockTransport(saturn.router.async_handler),
        tenant_transport=httpx.MockTransport(tenant.router.async_handler),
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://gateway.test",
        ) as http,
    ):
        yield http


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("label", sorted(OPERATIONS))
async def test_copilot_gateway_operation(label: str, gateway_http: httpx.AsyncClient) -> None:
    target = Target(
        http=gateway_http,
        loop=asyncio.get_running_loop(),
        auth={
            "valid": _bearer(token_for("cus_a")),
            "unknown_customer": _bearer(token_for("cus_nobody")),
            "wrong": _bearer(token_for("cus_a", secret="another-secret-0123456789abcdef")),
            "none": {},
        },
        envelope=project_envelope,
    )
    await run_fuzz(
        OPERATIONS[label],
        target,
        MAX_EXAMPLES,
        auth_weights=("valid", "valid", "valid", "valid", "unknown_customer", "wrong", "none"),
    )
    assert target.seen, "no request was sent"


async def test_reason_schema_and_server_agree_on_prompt_or_messages(
    gateway_http: httpx.AsyncClient,
) -> None:
    """The documented body says "exactly one of prompt and messages", as the server does."""
    spec = create_app(make_settings()).openapi()
    validator = jsonschema_rs.validator_for(
        {"$ref": "#/components/schemas/ReasonCreate", "components": spec["components"]}
    )
    messages = [{"role": "user", "content": "Hi."}]
    cases = [
        ({}, False),
        ({"prompt": "Hi.", "messages": messages}, False),
        ({"prompt": "Hi."}, True),
        ({"messages": messages}, True),
        ({"prompt": None, "messages": messages}, True),
    ]
    for body, allowed in cases:
        assert validator.is_valid(body) is allowed, body
        resp = await gateway_http.post(
            "/v1/copilot/reason", json=body, headers=_bearer(token_for("cus_a"))
        )
        assert resp.status_code == (200 if allowed else 422), (body, resp.text)
