"""The shared error envelope, rendered by a tiny FastAPI app."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field

from copilot_kit.errors import AppError, Conflict, NotFound, install_error_handlers


class Body(BaseModel):
    name: str = Field(min_length=1)
    seats: int = Field(ge=1)


def make_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/conflict")
    async def conflict() -> None:
        raise Conflict("The plan differs.", code="customer_conflict", customer_id="cus_1")

    @app.get("/limited")
    async def limited() -> None:
        raise AppError(
            "Daily limit reached.",
            code="daily_limit_reached",
            status_code=429,
            headers={"Retry-After": "60"},
        )

    @app.get("/missing")
    async def missing() -> None:
        raise NotFound()

    @app.post("/things")
    async def create(body: Body) -> dict[str, str]:
        return {"name": body.name}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals sk_agt_deadbeef")

    return app


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    # The app must answer the 500 itself, not re-raise into the test.
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        yield client


async def test_app_error_renders_envelope_and_status(api: httpx.AsyncClient) -> None:
    response = await api.get("/conflict")
    assert response.status_code == 409
    assert response.json() == {
        "error": {
            "type": "conflict",
            "code": "customer_conflict",
            "message": "The plan differs.",
            "customer_id": "cus_1",
        }
    }


async def test_app_error_headers_and_defaults(api: httpx.AsyncClient) -> None:
    limited = await api.get("/limited")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "60"
    assert limited.json()["error"]["code"] == "daily_limit_reached"
    missing = await api.get("/missing")
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "type": "not_found",
        "code": "not_found",
        "message": "The resource does not exist.",
    }


async def test_validation_error_lists_fields(api: httpx.AsyncClient) -> None:
    response = await api.post("/things", json={"name": "", "seats": 0})
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request", "invalid_request")
    assert {f["field"] for f in error["fields"]} == {"name", "seats"}
    assert "name" in error["message"]
    assert "seats" in error["message"]


async def test_unknown_route_is_a_404_envelope(api: httpx.AsyncClient) -> None:
    response = await api.get("/nope")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"
    assert response.json()["error"]["code"] == "not_found"


async def test_wrong_method_is_a_405_envelope(api: httpx.AsyncClient) -> None:
    response = await api.delete("/things")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


async def test_malformed_json_is_a_422_envelope(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/things", content=b'{"name": "x", ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["fields"]


async def test_unexpected_exception_is_a_500_without_trace(
    api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    response = await api.get("/boom")
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "type": "internal_error",
            "code": "internal_error",
            "message": "An unexpected error occurred.",
        }
    }
    assert "Traceback" not in response.text
    assert "secret internals" not in response.text
    assert any("unhandled error" in r.getMessage() for r in caplog.records)
