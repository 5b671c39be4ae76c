"""GET /v1/copilot/usage, /healthz and the OpenAPI document."""

from __future__ import annotations

from typing import Any

from .conftest import Gateway, auth

USAGE: dict[str, Any] = {
    "today": {
        "date": "2030-01-02",
        "spent_usd_micros": 1_500_000,
        "daily_cap_usd_cents": 1000,
        "remaining_usd_micros": 8_500_000,
        "resets_at": "2030-01-03T00:00:00Z",
        "at_cap": False,
    },
    "month": {
        "month": "2030-01",
        "spent_usd_micros": 4_000_000,
        "requests": 12,
        "limited_requests": 1,
        "days_at_cap": 0,
    },
    "days": [
        {
            "date": "2030-01-02",
            "spent_usd_micros": 1_500_000,
            "requests": 5,
            "limited_requests": 0,
            "at_cap": False,
        }
    ],
}


async def test_usage_is_the_calling_customers_own(gateway: Gateway) -> None:
    gateway.tenant.usage_payload = USAGE

    resp = await gateway.client.get(
        "/v1/copilot/usage", headers=auth("cus_a"), params={"customer_id": "cus_b"}
    )

    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["today"]["spent_usd_micros"] == 1_500_000
    assert body["month"]["days_at_cap"] == 0
    assert body["days"][0]["requests"] == 5
    usage_calls = [c.request.url.path for c in gateway.tenant.router.calls]
    assert "/internal/v1/customers/cus_a/usage" in usage_calls
    assert not any("cus_b" in path for path in usage_calls)


async def test_usage_of_a_churned_customer_is_403(gateway: Gateway) -> None:
    gateway.tenant.usage_payload = USAGE
    gateway.tenant.churn("cus_a")

    resp = await gateway.client.get("/v1/copilot/usage", headers=auth("cus_a"))

    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "customer_inactive"


async def test_usage_when_tenant_api_fails_is_503(gateway: Gateway) -> None:
    gateway.tenant.usage_payload = {"today": "garbled"}

    resp = await gateway.client.get("/v1/copilot/usage", headers=auth("cus_a"))

    assert resp.status_code == 503
    assert resp.json()["error"]["type"] == "service_unavailable"


async def test_healthz(gateway: Gateway) -> None:
    resp = await gateway.client.get("/healthz")

    assert resp.status_code == 200
    assert resp.json() == {"status": "ok"}


async def test_unknown_route_is_an_envelope_404(gateway: Gateway) -> None:
    resp = await gateway.client.get("/v1/copilot/nothing", headers=auth("cus_a"))

    assert resp.status_code == 404
    assert resp.json()["error"]["type"] == "not_found"


async def test_openapi_documents_the_reason_body(gateway: Gateway) -> None:
    resp = await gateway.client.get("/openapi.json")

    assert resp.status_code == 200
    spec = resp.json()
    operation = spec["paths"]["/v1/copilot/reason"]["post"]
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/ReasonCreate"
    schemas = spec["components"]["schemas"]
    assert set(schemas["ReasonCreate"]["properties"]) == {
        "prompt",
        "messages",
        "max_output_tokens",
        "model",
    }
    assert schemas["ReasonCreate"]["additionalProperties"] is False
    assert "ChatMessage" in schemas
    assert {"200", "402", "413", "429", "503"} <= set(operation["responses"])
