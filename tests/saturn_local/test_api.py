"""The wire protocol in-process (ASGI): auth, management routes, errors, receipts,
idempotency (I1-I4), cancellation (F1) and a hanging provider (F2)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import pytest

from saturn_local.ids import hash_key
from tests.saturn_local.conftest import (
    FLAT7_MODEL,
    FLAT7_PROMPT,
    PRIMARY,
    CountingProvider,
    Saturn,
    add_flat7,
)
from tests.saturn_local.ledger_helpers import settled_sum, totals

Factory = Callable[..., contextlib.AbstractAsyncContextManager[Saturn]]


def _error(resp: Any) -> tuple[int, str, str]:
    body = resp.json()["error"]
    return resp.status_code, body["code"], body["message"]


async def test_health_routes(saturn: Saturn) -> None:
    health = (await saturn.http.get("/health")).json()
    assert health["status"] == "ok"
    assert health["timestamp"].endswith("Z")
    assert (await saturn.http.get("/healthz")).json()["status"] == "ok"


async def test_bootstrap_stores_only_the_key_hash(saturn: Saturn) -> None:
    rows = await saturn.pool.fetch("SELECT key_hash, role FROM agents")
    assert [r["role"] for r in rows] == ["primary"]
    dump = str([dict(r) for r in await saturn.pool.fetch("SELECT * FROM agents")])
    assert PRIMARY["Authorization"].split()[1] not in dump


async def test_auth_failures_are_401_in_saturns_envelope(saturn: Saturn) -> None:
    assert _error(await saturn.http.get("/v1/agents")) == (
        401,
        "UNAUTHORIZED",
        "Missing or invalid Authorization header",
    )
    bad = {"Authorization": "Bearer sk_agt_" + "0" * 64}
    assert _error(await saturn.http.get("/v1/agents", headers=bad))[:2] == (401, "UNAUTHORIZED")
    malformed = {"Authorization": "Bearer nope"}
    assert _error(await saturn.http.get("/v1/agents", headers=malformed))[:2] == (
        401,
        "UNAUTHORIZED",
    )


async def test_worker_key_cannot_manage(saturn: Saturn) -> None:
    _, key = await saturn.create_agent()
    resp = await saturn.http.get("/v1/agents", headers={"Authorization": f"Bearer {key}"})
    assert _error(resp) == (403, "POLICY_DENIED", "Primary agent key required")


async def test_unknown_route_and_agent_are_404(saturn: Saturn) -> None:
    assert _error(await saturn.http.get("/v1/nope", headers=PRIMARY))[:2] == (404, "NOT_FOUND")
    resp = await saturn.http.get("/v1/agents/agt_missing", headers=PRIMARY)
    assert _error(resp) == (404, "NOT_FOUND", "Agent not found")


async def test_agent_lifecycle(saturn: Saturn) -> None:
    resp = await saturn.http.post(
        "/v1/agents",
        json={"name": "cust-1", "metadata": {"plan": "pro"}, "maxPerDayUsdCents": 5},
        headers=PRIMARY,
    )
    assert resp.status_code == 201
    created = resp.json()
    assert created["apiKey"].startswith("sk_agt_")
    assert created["role"] == "worker"
    # Caps given at create are dropped, as the real server drops them: the default applies.
    assert created["policy"]["maxPerDayUsdCents"] == 1000
    assert created["policy"]["maxPerCallUsdCents"] is None
    agent_id = created["id"]

    listed = (await saturn.http.get("/v1/agents", headers=PRIMARY)).json()
    assert [a["name"] for a in listed] == ["Default Agent", "cust-1"]
    got = (await saturn.http.get(f"/v1/agents/{agent_id}", headers=PRIMARY)).json()
    assert got["metadata"] == {"plan": "pro"}
    assert "apiKey" not in got

    patched = await saturn.http.patch(
        f"/v1/agents/{agent_id}", json={"name": "renamed", "status": "suspended"}, headers=PRIMARY
    )
    assert patched.json()["status"] == "suspended"
    assert patched.json()["name"] == "renamed"
    old_key = {"Authorization": f"Bearer {created['apiKey']}"}
    resp = await saturn.http.post(
        "/v1/capabilities/reason", json={"prompt": "hi there"}, headers=old_key
    )
    assert _error(resp) == (401, "UNAUTHORIZED", "Agent is suspended")
    await saturn.http.patch(f"/v1/agents/{agent_id}", json={"status": "active"}, headers=PRIMARY)

    regenerated = (
        await saturn.http.post(f"/v1/agents/{agent_id}/regenerate", headers=PRIMARY)
    ).json()
    assert regenerated["apiKey"] != created["apiKey"]
    resp = await saturn.http.post(
        "/v1/capabilities/reason", json={"prompt": "hi there"}, headers=old_key
    )
    assert resp.status_code == 401
    new_key = {"Authorization": f"Bearer {regenerated['apiKey']}"}
    resp = await saturn.http.post(
        "/v1/capabilities/reason", json={"prompt": "hi there"}, headers=new_key
    )
    assert resp.status_code == 200

    assert (await saturn.http.delete(f"/v1/agents/{agent_id}", headers=PRIMARY)).status_code == 204
    got = (await saturn.http.get(f"/v1/agents/{agent_id}", headers=PRIMARY)).json()
    assert got["status"] == "killed"
    policy = (await saturn.http.get(f"/v1/agents/{agent_id}/policy", headers=PRIMARY)).json()
    assert policy["killSwitch"] is True
    resp = await saturn.http.post(
        "/v1/capabilities/reason", json={"prompt": "hi there"}, headers=new_key
    )
    assert _error(resp) == (401, "UNAUTHORIZED", "Agent is killed")
    resp = await saturn.http.post(f"/v1/agents/{agent_id}/regenerate", headers=PRIMARY)
    assert resp.status_code == 400


async def test_primary_cannot_be_deleted(saturn: Saturn) -> None:
    agents = (await saturn.http.get("/v1/agents", headers=PRIMARY)).json()
    resp = await saturn.http.delete(f"/v1/agents/{agents[0]['id']}", headers=PRIMARY)
    assert _error(resp)[:2] == (400, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    "patch",
    [
        {"maxPerDayUsdCents": 0},
        {"maxPerDayUsdCents": -5},
        {"maxPerCallUsdCents": 1.5},
        {"maxPerCallUsdCents": "10"},
        {"killSwitch": "yes"},
    ],
)
async def test_bad_policy_values_are_400_and_change_nothing(
    saturn: Saturn, patch: dict[str, Any]
) -> None:
    agent_id, _ = await saturn.create_agent(daily_cents=300)
    resp = await saturn.http.patch(f"/v1/agents/{agent_id}/policy", json=patch, headers=PRIMARY)
    assert _error(resp)[:2] == (400, "VALIDATION_ERROR")
    assert resp.json()["error"]["details"]
    policy = (await saturn.http.get(f"/v1/agents/{agent_id}/policy", headers=PRIMARY)).json()
    assert (policy["maxPerDayUsdCents"], policy["killSwitch"]) == (300, False)


async def test_policy_patch_semantics(saturn: Saturn) -> None:
    agent_id, _ = await saturn.create_agent(per_call_cents=25, daily_cents=100)
    url = f"/v1/agents/{agent_id}/policy"
    policy = (await saturn.http.patch(url, json={"killSwitch": True}, headers=PRIMARY)).json()
    assert (policy["maxPerCallUsdCents"], policy["maxPerDayUsdCents"]) == (25, 100)
    assert policy["killSwitch"] is True
    # null = no limit; sats convert at the nominal 1 sat = 0.1 cent; USD wins over sats.
    policy = (
        await saturn.http.patch(
            url,
            json={"maxPerCallUsdCents": None, "maxPerDaySats": 2000, "unknown": 1},
            headers=PRIMARY,
        )
    ).json()
    assert policy["maxPerCallUsdCents"] is None
    assert (policy["maxPerDayUsdCents"], policy["maxPerDaySats"]) == (200, 2000)
    policy = (
        await saturn.http.patch(
            url, json={"maxPerDaySats": 5, "maxPerDayUsdCents": 7}, headers=PRIMARY
        )
    ).json()
    assert policy["maxPerDayUsdCents"] == 7


async def test_reason_receipt_headers_and_body(saturn: Saturn) -> None:
    agent_id, key = await saturn.create_agent(daily_cents=100)
    prompt = "Saturn guards spend. " * 20
    resp = await saturn.reason(key, {"prompt": prompt, "maxTokens": 50})
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"content", "model", "usage"}
    assert body["model"] == "offline-extractive-1"
    usage = body["usage"]
    assert usage["inputTokens"] == -(-len(prompt) // 4)
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    h = resp.headers
    quoted, charged = int(h["x-saturn-quoted-usd-micros"]), int(h["x-saturn-charged-usd-micros"])
    # 105 input tokens at $0.50/M + 50 output tokens at $1.50/M, each rounded up.
    assert quoted == -(-105 * 500_000 // 10**6) + -(-50 * 1_500_000 // 10**6)
    assert 0 < charged <= quoted
    assert h["x-saturn-charged-usd-cents"] == str(-(-charged // 10_000))
    assert h["x-saturn-quoted-usd-cents"] == str(-(-quoted // 10_000))
    assert h["x-saturn-capability"] == "reason"
    assert h["x-saturn-provider"] == "offline"
    assert h["x-saturn-audit-id"].startswith("aud_")
    assert h["x-saturn-balance-after"] == "0"
    assert "x-saturn-idempotent-replay" not in h
    receipt = await saturn.pool.fetchrow(
        "SELECT * FROM receipts WHERE id = $1", h["x-saturn-audit-id"]
    )
    assert receipt is not None
    assert (receipt["status"], receipt["outcome"], receipt["charged_usd_micros"]) == (
        "settled",
        "ok",
        charged,
    )
    assert (receipt["model"], receipt["price_version"], receipt["max_tokens"]) == (
        "offline-extractive-1",
        1,
        50,
    )
    assert await totals(saturn.pool, agent_id) == (charged, 0)


async def test_bigger_document_costs_proportionally_more(saturn: Saturn) -> None:
    _, key = await saturn.create_agent(daily_cents=1000)
    small = await saturn.reason(key, {"prompt": "word " * 2000, "max_tokens": 10})
    big = await saturn.reason(key, {"prompt": "word " * 20000, "max_tokens": 10})
    s, b = (int(r.headers["x-saturn-charged-usd-micros"]) for r in (small, big))
    assert 9 * s <= b <= 11 * s


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "prompt or messages is required"),
        ({"prompt": ""}, "prompt must be a non-empty string"),
        ({"prompt": 5}, "prompt must be a non-empty string"),
        ({"messages": []}, "messages must be a non-empty array"),
        ({"messages": [{"role": "robot", "content": "x"}]}, None),
        ({"prompt": "hi", "max_tokens": 0}, "max_tokens must be an integer from 1 to 1000000"),
        ({"prompt": "hi", "max_tokens": -3}, "max_tokens must be an integer from 1 to 1000000"),
        ({"prompt": "hi", "maxTokens": 10**9}, "max_tokens must be an integer from 1 to 1000000"),
        ({"prompt": "hi", "max_tokens": "12"}, "max_tokens must be an integer from 1 to 1000000"),
        (
            {"prompt": "hi", "model": "gpt-unknown"},
            "Model 'gpt-unknown' has no price on this server",
        ),
        ({"prompt": "hi", "model": "gpt-4o-mini"}, None),
    ],
)
async def test_bad_reason_bodies_are_400_and_charge_nothing(
    saturn: Saturn, body: dict[str, Any], message: str | None
) -> None:
    agent_id, key = await saturn.create_agent(daily_cents=100)
    status, code, got = _error(await saturn.reason(key, body))
    assert (status, code) == (400, "VALIDATION_ERROR")
    if message:
        assert got == message
    assert await saturn.pool.fetchval("SELECT count(*) FROM receipts") == 0
    assert await totals(saturn.pool, agent_id) == (0, 0)


async def test_non_json_body_is_400(saturn: Saturn) -> None:
    _, key = await saturn.create_agent()
    resp = await saturn.http.post(
        "/v1/capabilities/reason",
        content=b"{not json",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    assert _error(resp) == (400, "VALIDATION_ERROR", "Request body must be valid JSON")


async def test_huge_body_is_413(saturn_factory: Factory) -> None:
    async with saturn_factory(settings={"max_body_bytes": 1000}) as saturn:
        _, key = await saturn.create_agent()
        resp = await saturn.reason(key, {"prompt": "x" * 2000})
        assert _error(resp)[:2] == (413, "PAYLOAD_TOO_LARGE")
        assert await saturn.pool.fetchval("SELECT count(*) FROM receipts") == 0


async def test_max_tokens_defaults_and_clamps(saturn: Saturn) -> None:
    _, key = await saturn.create_agent(daily_cents=1000)
    default = await saturn.reason(key, {"prompt": "abcd"})
    clamped = await saturn.reason(key, {"prompt": "abcd", "max_tokens": 999_999})
    rows = await saturn.pool.fetch(
        "SELECT id, max_tokens FROM receipts WHERE id = ANY($1::text[])",
        [default.headers["x-saturn-audit-id"], clamped.headers["x-saturn-audit-id"]],
    )
    by_id = {r["id"]: r["max_tokens"] for r in rows}
    assert by_id[default.headers["x-saturn-audit-id"]] == 1024
    assert by_id[clamped.headers["x-saturn-audit-id"]] == 4096


async def test_caps_denials_carry_details_and_are_counted(saturn: Saturn) -> None:
    await add_flat7(saturn.pool)
    agent_id, key = await saturn.create_agent(per_call_cents=5, daily_cents=20)
    body = {"prompt": FLAT7_PROMPT, "model": FLAT7_MODEL}
    status, code, message = _error(await saturn.reason(key, body))
    assert (status, code, message) == (403, "POLICY_DENIED", "per_call_limit_exceeded")
    # The policy change applies to the very next call.
    await saturn.http.patch(
        f"/v1/agents/{agent_id}/policy", json={"maxPerCallUsdCents": None}, headers=PRIMARY
    )
    assert (await saturn.reason(key, body)).status_code == 200
    assert (await saturn.reason(key, body)).status_code == 200
    resp = await saturn.reason(key, body)
    assert _error(resp) == (403, "POLICY_DENIED", "daily_limit_exceeded")
    details = resp.json()["error"]["details"]
    assert details["spentUsdMicros"] == 140_000
    assert details["heldUsdMicros"] == 0
    assert details["capUsdMicros"] == 200_000
    assert details["quoteUsdMicros"] == 70_000
    assert details["resetsAt"].endswith("T00:00:00.000Z")
    await saturn.http.patch(
        f"/v1/agents/{agent_id}/policy", json={"maxPerDayUsdCents": 21}, headers=PRIMARY
    )
    assert (await saturn.reason(key, body)).status_code == 200
    await saturn.http.patch(
        f"/v1/agents/{agent_id}/policy", json={"killSwitch": True}, headers=PRIMARY
    )
    resp = await saturn.reason(key, body)
    assert _error(resp) == (403, "POLICY_DENIED", "kill_switch_active")

    usage = (await saturn.http.get(f"/v1/agents/{agent_id}/usage?days=2", headers=PRIMARY)).json()
    today = usage["days"][0]
    assert usage["agentId"] == agent_id
    assert len(usage["days"]) == 2
    assert today["spentUsdMicros"] == 210_000
    assert (today["calls"], today["deniedCalls"], today["atCap"]) == (3, 3, True)
    assert today["capUsdCents"] == 21
    spend = (await saturn.http.get("/v1/admin/agents", headers=PRIMARY)).json()
    mine = next(a for a in spend if a["id"] == agent_id)
    assert (mine["todaySpendUsdCents"], mine["totalCalls"]) == (21, 3)


async def test_usage_bad_days_and_unknown_agent(saturn: Saturn) -> None:
    agent_id, key = await saturn.create_agent()
    resp = await saturn.http.get(f"/v1/agents/{agent_id}/usage?days=0", headers=PRIMARY)
    assert _error(resp)[:2] == (400, "VALIDATION_ERROR")
    resp = await saturn.http.get("/v1/agents/agt_x/usage", headers=PRIMARY)
    assert _error(resp) == (404, "NOT_FOUND", "Agent not found")
    worker = {"Authorization": f"Bearer {key}"}
    resp = await saturn.http.get(f"/v1/agents/{agent_id}/usage", headers=worker)
    assert resp.status_code == 403


async def test_i1_same_key_five_times_one_charge(saturn_factory: Factory) -> None:
    provider = CountingProvider()
    async with saturn_factory(provider=provider) as saturn:
        agent_id, key = await saturn.create_agent(daily_cents=100)
        body = {"prompt": "One charge only. Really.", "max_tokens": 20}
        responses = [await saturn.reason(key, body, {"Idempotency-Key": "k-1"}) for _ in range(5)]
        assert provider.calls == 1
        assert {r.status_code for r in responses} == {200}
        assert len({r.content for r in responses}) == 1
        assert len({r.headers["x-saturn-audit-id"] for r in responses}) == 1
        assert "x-saturn-idempotent-replay" not in responses[0].headers
        assert all(r.headers["x-saturn-idempotent-replay"] == "true" for r in responses[1:])
        spent, held = await totals(saturn.pool, agent_id)
        assert spent == int(responses[0].headers["x-saturn-charged-usd-micros"])
        assert held == 0
        assert await saturn.pool.fetchval("SELECT count(*) FROM receipts") == 1


async def test_i2_same_key_ten_at_once_one_provider_call(saturn_factory: Factory) -> None:
    provider = CountingProvider(delay=0.2)
    async with saturn_factory(provider=provider) as saturn:
        agent_id, key = await saturn.create_agent(daily_cents=100)
        body = {"prompt": "Ten at once.", "max_tokens": 20}
        responses = await asyncio.gather(
            *(saturn.reason(key, body, {"Idempotency-Key": "burst"}) for _ in range(10))
        )
        assert provider.calls == 1
        assert {r.status_code for r in responses} == {200}
        assert len({r.content for r in responses}) == 1
        replays = [r for r in responses if r.headers.get("x-saturn-idempotent-replay")]
        assert len(replays) == 9
        spent, _ = await totals(saturn.pool, agent_id)
        assert spent == await settled_sum(saturn.pool, agent_id)
        assert await saturn.pool.fetchval("SELECT count(*) FROM receipts") == 1


async def test_i3_same_key_different_body_is_422(saturn: Saturn) -> None:
    agent_id, key = await saturn.create_agent(daily_cents=100)
    first = await saturn.reason(key, {"prompt": "A first body."}, {"Idempotency-Key": "k"})
    assert first.status_code == 200
    spent_before = await totals(saturn.pool, agent_id)
    resp = await saturn.reason(key, {"prompt": "Another body."}, {"Idempotency-Key": "k"})
    assert _error(resp)[:2] == (422, "IDEMPOTENCY_KEY_REUSED")
    assert await totals(saturn.pool, agent_id) == spent_before
    assert await saturn.pool.fetchval("SELECT count(*) FROM receipts") == 1


async def test_i4_two_agents_same_key_are_independent(saturn_factory: Factory) -> None:
    provider = CountingProvider()
    async with saturn_factory(provider=provider) as saturn:
        a_id, a_key = await saturn.create_agent("a", daily_cents=100)
        b_id, b_key = await saturn.create_agent("b", daily_cents=100)
        ra = await saturn.reason(a_key, {"prompt": "Alpha text."}, {"Idempotency-Key": "same"})
        rb = await saturn.reason(b_key, {"prompt": "Beta text."}, {"Idempotency-Key": "same"})
        assert (ra.status_code, rb.status_code) == (200, 200)
        assert ra.json()["content"] == "Alpha text."
        assert rb.json()["content"] == "Beta text."
        assert "x-saturn-idempotent-replay" not in rb.headers
        assert provider.calls == 2
        assert (await totals(saturn.pool, a_id))[0] > 0
        assert (await totals(saturn.pool, b_id))[0] > 0


async def test_failed_idempotent_call_can_be_retried(saturn: Saturn) -> None:
    await add_flat7(saturn.pool)
    agent_id, key = await saturn.create_agent(daily_cents=5)
    body = {"prompt": FLAT7_PROMPT, "model": FLAT7_MODEL}
    denied = await saturn.reason(key, body, {"Idempotency-Key": "retry-me"})
    assert denied.status_code == 403
    await saturn.http.patch(
        f"/v1/agents/{agent_id}/policy", json={"maxPerDayUsdCents": 10}, headers=PRIMARY
    )
    ok = await saturn.reason(key, body, {"Idempotency-Key": "retry-me"})
    assert ok.status_code == 200
    assert "x-saturn-idempotent-replay" not in ok.headers


async def test_f1_cancelled_mid_provider_call_releases_the_hold(saturn_factory: Factory) -> None:
    provider = CountingProvider(hang=True)
    async with saturn_factory(provider=provider) as saturn:
        agent_id, key = await saturn.create_agent(daily_cents=100)
        service = saturn.app.state.services.reason
        agent = await saturn.app.state.services.agents_repo.by_key_hash(hash_key(key))
        assert agent is not None
        task = asyncio.create_task(
            service.reason(agent, b'{"prompt": "cancel me", "max_tokens": 100}', "idem-f1")
        )
        await asyncio.wait_for(provider.entered.wait(), 5)
        assert (await totals(saturn.pool, agent_id))[1] > 0  # the hold is in place
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await service.drain()
        assert await totals(saturn.pool, agent_id) == (0, 0)
        receipt = await saturn.pool.fetchrow("SELECT status, outcome FROM receipts")
        assert receipt is not None
        assert tuple(receipt) == ("voided", "cancelled")
        # The idempotency key was released: a retry runs again.
        assert await saturn.pool.fetchval("SELECT count(*) FROM idempotency_keys") == 0


async def test_f2_hanging_provider_times_out_voids_and_502(saturn_factory: Factory) -> None:
    provider = CountingProvider(hang=True)
    async with saturn_factory(
        provider=provider, settings={"provider_timeout_seconds": 0.2}
    ) as saturn:
        agent_id, key = await saturn.create_agent(daily_cents=100)
        resp = await saturn.reason(key, {"prompt": "hang"})
        assert _error(resp) == (
            502,
            "UPSTREAM_ERROR",
            "The model provider did not answer in time",
        )
        assert await totals(saturn.pool, agent_id) == (0, 0)
        outcome = await saturn.pool.fetchval("SELECT outcome FROM receipts")
        assert outcome == "upstream_timeout"
