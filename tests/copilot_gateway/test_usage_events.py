"""Usage events: one per request that reached Saturn, batched off the response path,
retried while tenant-api is away, flushed at shutdown; no secret in any log line."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
import respx
from pydantic import SecretStr

from copilot_gateway.clients.tenant_api import TenantApiClient, UsageEvent, UsageOutcome
from copilot_gateway.usage.recorder import UsageRecorder

from .conftest import (
    TENANT_URL,
    FakeTenantApi,
    Gateway,
    GatewayFactory,
    agent_key,
    ok_reply,
    saturn_error,
    token_for,
)


async def test_each_outcome_is_recorded(gateway: Gateway) -> None:
    saturn = gateway.saturn
    saturn.reply = ok_reply(charged_usd_micros=777, input_tokens=5, output_tokens=3)
    ok = await gateway.reason("cus_a")
    saturn.reply = saturn_error(403, "POLICY_DENIED", "daily_limit_exceeded")
    await gateway.reason("cus_a", body={"prompt": "x", "model": "m-1"})
    saturn.reply = saturn_error(403, "POLICY_DENIED", "per_call_limit_exceeded")
    await gateway.reason("cus_b")
    saturn.reply = saturn_error(502, "UPSTREAM_ERROR", "model failed")
    await gateway.reason("cus_b")

    events = await gateway.wait_for_events(4)

    by_outcome = {event["outcome"]: event for event in events}
    assert set(by_outcome) == {"ok", "daily_limit", "per_call_limit", "error"}
    assert by_outcome["ok"] == {
        "id": ok.json()["id"],
        "customer_id": "cus_a",
        "outcome": "ok",
        "cost_usd_micros": 777,
        "input_tokens": 5,
        "output_tokens": 3,
        "model": "offline-1",
    }
    assert by_outcome["daily_limit"]["customer_id"] == "cus_a"
    assert by_outcome["daily_limit"]["cost_usd_micros"] == 0
    assert by_outcome["daily_limit"]["model"] == "m-1"
    assert by_outcome["per_call_limit"]["customer_id"] == "cus_b"
    assert by_outcome["error"]["customer_id"] == "cus_b"
    assert len({event["id"] for event in events}) == 4


async def test_refused_before_saturn_records_nothing(gateway: Gateway) -> None:
    gateway.tenant.churn("cus_a")
    await gateway.reason("cus_a")
    await gateway.reason("cus_b", body={"nope": 1})
    await gateway.reason("cus_b")  # one real call, to know when the recorder has run

    events = await gateway.wait_for_events(1)

    assert [event["customer_id"] for event in events] == ["cus_b"]


async def test_idempotent_replay_reuses_the_event_id(gateway: Gateway) -> None:
    gateway.saturn.reply = ok_reply(audit_id="aud_same")
    await gateway.reason(headers={"Idempotency-Key": "k"})
    gateway.saturn.reply = ok_reply(audit_id="aud_same", replay=True)
    replay = await gateway.reason(headers={"Idempotency-Key": "k"})

    await gateway.wait_for_events(1)
    await asyncio.sleep(0.1)

    assert replay.json()["id"] == "aud_same"
    assert {event["id"] for event in gateway.tenant.events} == {"aud_same"}


def _recorder(tenant: FakeTenantApi, **kw: float) -> tuple[UsageRecorder, TenantApiClient]:
    client = TenantApiClient(
        base_url=TENANT_URL,
        service_token=SecretStr("svc"),
        transport=httpx.MockTransport(tenant.router.async_handler),
    )
    options = {"batch_size": 200, "flush_interval": 0.02, "retry_max_seconds": 0.1, **kw}
    return UsageRecorder(tenant_api=client, **options), client  # type: ignore[arg-type]


def _event(i: int) -> UsageEvent:
    return UsageEvent(id=f"req_{i}", customer_id="cus_a", outcome=UsageOutcome.OK)


@pytest.fixture
def tenant() -> FakeTenantApi:
    fake = FakeTenantApi(respx.MockRouter(base_url=TENANT_URL, assert_all_called=False))
    fake.install()
    return fake


async def test_events_are_sent_in_batches(tenant: FakeTenantApi) -> None:
    recorder, client = _recorder(tenant)
    for i in range(450):
        recorder.record(_event(i))

    recorder.start()
    await recorder.stop()
    await client.aclose()

    assert [len(batch) for batch in tenant.batches] == [200, 200, 50]
    assert [e["id"] for e in tenant.events] == [f"req_{i}" for i in range(450)]
    assert recorder.pending == 0


async def test_failed_batches_are_retried_until_tenant_api_is_back(
    tenant: FakeTenantApi, caplog: pytest.LogCaptureFixture
) -> None:
    down = httpx.Response(503, json={"error": {"code": "unavailable", "message": "restarting"}})
    tenant.events_failures = [down, httpx.ConnectError("refused"), down]
    recorder, client = _recorder(tenant)
    recorder.start()
    for i in range(3):
        recorder.record(_event(i))

    await tenant.wait_for_events(3)
    await recorder.stop()
    await client.aclose()

    assert [e["id"] for e in tenant.events] == ["req_0", "req_1", "req_2"]
    assert tenant.events_failures == []
    assert "tenant-api unavailable" in caplog.text


async def test_queue_is_bounded_and_drops_the_oldest(
    tenant: FakeTenantApi, caplog: pytest.LogCaptureFixture
) -> None:
    recorder, client = _recorder(tenant, max_queue=5)
    for i in range(8):
        recorder.record(_event(i))

    await recorder.stop()  # never started: stop still drains
    await client.aclose()

    assert recorder.dropped == 3
    assert [e["id"] for e in tenant.events] == [f"req_{i}" for i in range(3, 8)]
    assert "usage queue full" in caplog.text


async def test_events_are_flushed_at_shutdown(make_gateway: GatewayFactory) -> None:
    gateway: Gateway = await make_gateway(gateway_usage_flush_interval_seconds=60)
    for _ in range(3):
        assert (await gateway.reason()).status_code == 200
    await asyncio.sleep(0.05)
    assert gateway.tenant.batches == []  # not yet: the interval is a minute

    await gateway.state.recorder.stop()

    assert len(gateway.tenant.events) == 3


async def test_no_secret_reaches_logs_or_bodies(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = agent_key("cus_a")
    replies = [
        ok_reply(),
        saturn_error(403, "POLICY_DENIED", "daily_limit_exceeded"),
        saturn_error(402, "INSUFFICIENT_BALANCE", "no credits"),
        saturn_error(401, "UNAUTHORIZED", "Agent is suspended"),
        saturn_error(502, "UPSTREAM_ERROR", "model failed"),
        httpx.ConnectError("refused"),
    ]
    token = token_for("cus_a")
    bodies = []
    for reply in replies:
        gateway.saturn.reply = reply
        resp = await gateway.reason("cus_a", headers={"Authorization": f"Bearer {token}"})
        bodies.append(resp.text)
    await gateway.wait_for_events(len(replies))

    logged = caplog.text + "".join(repr(r.__dict__) for r in caplog.records)
    for secret in (key, token, "svc_test_service_token"):
        assert secret not in logged
        assert all(secret not in body for body in bodies)
    credentials = await gateway.state.resolver.resolve("cus_a")
    assert key not in repr(credentials)
    assert key not in repr(gateway.state.tenant_api)
