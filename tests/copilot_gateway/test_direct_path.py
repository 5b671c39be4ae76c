"""``POST /v1/copilot/reason`` skips FastAPI's middleware stack: same answers, same errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from copilot_gateway.main import GatewayApp

from .conftest import Gateway, auth


async def test_success_has_the_json_headers(gateway: Gateway) -> None:
    assert isinstance(gateway.app, GatewayApp)
    resp = await gateway.reason(body={"prompt": "hi"})
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert int(resp.headers["content-length"]) == len(resp.content)
    assert resp.json()["response"]


async def test_app_errors_use_the_envelope_and_headers(gateway: Gateway) -> None:
    resp = await gateway.client.post("/v1/copilot/reason", json={"prompt": "hi"})
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"] == "Bearer"
    assert resp.json()["error"]["type"] == "authentication_error"


async def test_other_methods_still_go_through_fastapi(gateway: Gateway) -> None:
    resp = await gateway.client.get("/v1/copilot/reason", headers=auth("cus_a"))
    assert resp.status_code == 405
    assert "error" in resp.json()


async def test_unexpected_error_is_a_500_envelope_and_reraised(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(gateway.state.copilot, "reason", broken)
    with pytest.raises(RuntimeError, match="boom"):
        await gateway.reason(body={"prompt": "hi"})
    transport = httpx.ASGITransport(app=gateway.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        resp = await client.post("/v1/copilot/reason", json={"prompt": "hi"}, headers=auth("cus_a"))
    assert resp.status_code == 500
    assert resp.json()["error"]["code"] == "internal_error"
    assert "boom" not in resp.text


async def test_openapi_still_documents_the_route(gateway: Gateway) -> None:
    operation = (await gateway.client.get("/openapi.json")).json()["paths"]["/v1/copilot/reason"][
        "post"
    ]
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ReasonCreate"
    }
    assert "200" in operation["responses"]
