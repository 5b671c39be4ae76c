"""SaturnClient against the real server's wire shapes: requests sent, answers parsed."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from copilot_kit.saturn import (
    AgentStatus,
    Message,
    PolicyUpdate,
    ReasonRequest,
    SaturnClient,
    SaturnError,
    SaturnNotFound,
    SaturnServerError,
    SaturnUnavailable,
    SaturnUnsupported,
)

from .conftest import AGENT_ID, AGENT_KEY, BASE_URL, PRIMARY_KEY, agent_json, policy_json

NEW_KEY = "sk_agt_" + "c" * 64


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content)


def reason_body() -> dict[str, Any]:
    return {
        "content": "Paris.",
        "model": "gpt-4o-mini",
        "usage": {"inputTokens": 12, "outputTokens": 3, "totalTokens": 15},
        "raw": {"id": "chatcmpl-1", "object": "chat.completion"},
    }


RECEIPT_HEADERS = {
    "X-Saturn-Audit-Id": "aud_01JN3Z8Q6Y5W4V3T2S1R0P9N8X",
    "X-Saturn-Quoted-Sats": "4210",
    "X-Saturn-Charged-Sats": "16",
    "X-Saturn-Quoted-Usd-Cents": "400",
    "X-Saturn-Charged-Usd-Cents": "2",
    "X-Saturn-Balance-After": "120984",
    "X-Saturn-Capability": "reason",
    "X-Saturn-Provider": "openai",
}


async def test_create_agent_posts_name_with_primary_key(
    saturn: SaturnClient, router: respx.Router
) -> None:
    created = {**agent_json(), "apiKey": NEW_KEY, "policy": policy_json(per_call=None)}
    route = router.post("/v1/agents").respond(201, json=created)

    agent = await saturn.create_agent("customer-acme", metadata={"tier": "pro"})

    request = route.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {PRIMARY_KEY}"
    assert body_of(request) == {"name": "customer-acme", "metadata": {"tier": "pro"}}
    assert agent.id == AGENT_ID
    assert agent.api_key.get_secret_value() == NEW_KEY
    assert agent.status is AgentStatus.ACTIVE
    assert NEW_KEY not in repr(agent)


async def test_create_agent_with_caps_posts_then_patches_policy(
    saturn: SaturnClient, router: respx.Router
) -> None:
    created = {**agent_json(), "apiKey": NEW_KEY, "policy": policy_json(per_call=None)}
    create = router.post("/v1/agents").respond(201, json=created)
    patch = router.patch(f"/v1/agents/{AGENT_ID}/policy").respond(
        200, json=policy_json(per_call=100, per_day=500)
    )

    agent = await saturn.create_agent_with_caps(
        "customer-acme", max_per_call_usd_cents=100, max_per_day_usd_cents=500
    )

    assert body_of(create.calls.last.request) == {"name": "customer-acme"}
    assert body_of(patch.calls.last.request) == {
        "maxPerCallUsdCents": 100,
        "maxPerDayUsdCents": 500,
    }
    assert [call.request.method for call in router.calls] == ["POST", "PATCH"]
    assert agent.api_key.get_secret_value() == NEW_KEY


async def test_create_agent_with_caps_deletes_the_agent_when_caps_fail(
    saturn: SaturnClient, router: respx.Router
) -> None:
    router.post("/v1/agents").respond(201, json={**agent_json(), "apiKey": NEW_KEY})
    router.patch(f"/v1/agents/{AGENT_ID}/policy").respond(
        400, json={"error": {"code": "VALIDATION_ERROR", "message": "bad cap"}}
    )
    delete = router.delete(f"/v1/agents/{AGENT_ID}").respond(204)

    with pytest.raises(SaturnError, match="bad cap"):
        await saturn.create_agent_with_caps(
            "customer-acme", max_per_call_usd_cents=100, max_per_day_usd_cents=500
        )
    assert delete.call_count == 1


async def test_get_and_list_agents_ignore_extra_fields(
    saturn: SaturnClient, router: respx.Router
) -> None:
    router.get(f"/v1/agents/{AGENT_ID}").respond(200, json=agent_json())
    router.get("/v1/agents").respond(
        200,
        json=[
            agent_json("agt_1", "customer-acme", "killed"),
            agent_json("agt_2", "customer-acme", "suspended"),
            agent_json("agt_3", "other"),
        ],
    )

    agent = await saturn.get_agent(AGENT_ID)
    agents = await saturn.list_agents()
    found = await saturn.find_agent_by_name("customer-acme")
    missing = await saturn.find_agent_by_name("nobody")

    assert agent.account_id == "acc_01JN3Z8Q6Y5W4V3T2S1R0P9N8A"
    assert [a.id for a in agents] == ["agt_1", "agt_2", "agt_3"]
    assert found is not None
    assert found.id == "agt_2"
    assert missing is None


async def test_list_agents_accepts_data_wrapper(saturn: SaturnClient, router: respx.Router) -> None:
    router.get("/v1/agents").respond(200, json={"data": [agent_json()]})
    assert [a.id for a in await saturn.list_agents()] == [AGENT_ID]


async def test_policy_get_and_patch_sends_only_set_fields(
    saturn: SaturnClient, router: respx.Router
) -> None:
    router.get(f"/v1/agents/{AGENT_ID}/policy").respond(200, json=policy_json())
    patch = router.patch(f"/v1/agents/{AGENT_ID}/policy").respond(
        200, json={**policy_json(), "killSwitch": True}
    )

    policy = await saturn.get_policy(AGENT_ID)
    updated = await saturn.update_policy(AGENT_ID, PolicyUpdate(kill_switch=True))
    await saturn.set_caps(AGENT_ID, max_per_call_usd_cents=None, max_per_day_usd_cents=2000)

    assert (policy.max_per_call_usd_cents, policy.max_per_day_usd_cents) == (100, 500)
    assert policy.agent_id == AGENT_ID
    assert updated.kill_switch is True
    assert body_of(patch.calls[0].request) == {"killSwitch": True}
    assert body_of(patch.calls[1].request) == {
        "maxPerCallUsdCents": None,
        "maxPerDayUsdCents": 2000,
    }


async def test_suspend_activate_delete_regenerate(
    saturn: SaturnClient, router: respx.Router
) -> None:
    status = router.patch(f"/v1/agents/{AGENT_ID}")
    status.side_effect = [
        httpx.Response(200, json=agent_json(status="suspended")),
        httpx.Response(200, json=agent_json(status="active")),
    ]
    delete = router.delete(f"/v1/agents/{AGENT_ID}").respond(204)
    regen = router.post(f"/v1/agents/{AGENT_ID}/regenerate").respond(
        200, json={**agent_json(), "apiKey": NEW_KEY}
    )

    suspended = await saturn.suspend_agent(AGENT_ID)
    active = await saturn.activate_agent(AGENT_ID)
    await saturn.delete_agent(AGENT_ID)
    regenerated = await saturn.regenerate_key(AGENT_ID)

    assert suspended.status is AgentStatus.SUSPENDED
    assert active.status is AgentStatus.ACTIVE
    assert [body_of(c.request) for c in status.calls] == [
        {"status": "suspended"},
        {"status": "active"},
    ]
    assert delete.call_count == 1
    assert delete.calls.last.request.headers["Authorization"] == f"Bearer {PRIMARY_KEY}"
    assert regen.calls.last.request.content == b""
    assert regenerated.api_key.get_secret_value() == NEW_KEY


async def test_ids_cannot_escape_their_path_segment(saturn: SaturnClient) -> None:
    with pytest.raises(ValueError, match="invalid Saturn id"):
        await saturn.get_agent("agt_1/../../admin")


async def test_list_agent_spend_parses_admin_rows(
    saturn: SaturnClient, router: respx.Router
) -> None:
    row = {
        "id": AGENT_ID,
        "name": "customer-acme",
        "status": "active",
        "metadata": None,
        "createdAt": "2026-02-27T10:00:00.000Z",
        "updatedAt": "2026-02-27T10:00:00.000Z",
        "role": "worker",
        "balanceSats": 125000,
        "heldSats": 0,
        "balanceUsdCents": 11875,
        "heldUsdCents": 0,
        "lifetimeOut": 3000,
        "lifetimeOutUsdCents": 285,
        "todaySpendSats": 420,
        "todaySpendUsdCents": 40,
        "totalCalls": 10,
    }
    router.get("/v1/admin/agents").respond(200, json=[row])

    (spend,) = await saturn.list_agent_spend()

    assert (spend.id, spend.today_spend_usd_cents, spend.total_calls) == (AGENT_ID, 40, 10)


async def test_get_usage_parses_days(saturn: SaturnClient, router: respx.Router) -> None:
    route = router.get(f"/v1/agents/{AGENT_ID}/usage").respond(
        200,
        json={
            "agentId": AGENT_ID,
            "days": [
                {
                    "date": "2026-03-02",
                    "spentUsdMicros": 5_000_000,
                    "heldUsdMicros": 0,
                    "capUsdCents": 500,
                    "calls": 12,
                    "deniedCalls": 3,
                    "atCap": True,
                }
            ],
        },
    )

    usage = await saturn.get_usage(AGENT_ID, days=7)

    assert route.calls.last.request.url.params["days"] == "7"
    assert usage.days[0].at_cap is True
    assert usage.days[0].spent_usd_micros == 5_000_000


@pytest.mark.parametrize(
    ("status", "kwargs"),
    [
        (404, {"text": "<pre>Cannot GET /v1/agents/agt_1/usage</pre>"}),
        (404, {"json": {"error": {"code": "NOT_FOUND", "message": "Route not found"}}}),
        (405, {"text": "Method Not Allowed"}),
    ],
)
async def test_get_usage_on_a_server_without_the_extension_is_unsupported(
    saturn: SaturnClient, router: respx.Router, status: int, kwargs: dict[str, Any]
) -> None:
    router.get(f"/v1/agents/{AGENT_ID}/usage").respond(status, **kwargs)
    with pytest.raises(SaturnUnsupported) as info:
        await saturn.get_usage(AGENT_ID)
    assert info.value.status == status


async def test_get_usage_of_an_unknown_agent_is_not_found(
    saturn: SaturnClient, router: respx.Router
) -> None:
    router.get(f"/v1/agents/{AGENT_ID}/usage").respond(
        404, json={"error": {"code": "NOT_FOUND", "message": "Agent not found"}}
    )
    with pytest.raises(SaturnNotFound) as info:
        await saturn.get_usage(AGENT_ID)
    assert not isinstance(info.value, SaturnUnsupported)


async def test_health(saturn: SaturnClient, router: respx.Router, sleeps: list[float]) -> None:
    route = router.get("/health")
    route.side_effect = [
        httpx.Response(200, json={"status": "ok", "timestamp": "2026-02-27T10:00:00.000Z"}),
        httpx.Response(503, text="down"),
        httpx.Response(503, text="down"),
        httpx.Response(503, text="down"),
    ]
    assert await saturn.health() is True
    assert "Authorization" not in route.calls.last.request.headers
    assert await saturn.health() is False
    assert route.call_count == 4  # one success, then 1 + max_retries failures


# -- reason --------------------------------------------------------------------------------


async def test_reason_sends_agent_key_and_parses_receipt(
    saturn: SaturnClient, router: respx.Router
) -> None:
    route = router.post("/v1/capabilities/reason").respond(
        200, json=reason_body(), headers=RECEIPT_HEADERS
    )

    result = await saturn.reason(
        ReasonRequest(
            messages=[Message(role="user", content="Capital of France?")],
            max_tokens=256,
            model="gpt-4o-mini",
        ),
        api_key=SecretStr(AGENT_KEY),
        idempotency_key="req-123",
    )

    request = route.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {AGENT_KEY}"
    assert request.headers["Idempotency-Key"] == "req-123"
    assert body_of(request) == {
        "messages": [{"role": "user", "content": "Capital of France?"}],
        "model": "gpt-4o-mini",
        "max_tokens": 256,
    }
    assert result.content == "Paris."
    assert result.model == "gpt-4o-mini"
    assert (result.usage.input_tokens, result.usage.output_tokens) == (12, 3)
    assert result.usage.total_tokens == 15
    receipt = result.receipt
    assert receipt.audit_id == "aud_01JN3Z8Q6Y5W4V3T2S1R0P9N8X"
    assert (receipt.quoted_sats, receipt.charged_sats) == (4210, 16)
    assert (receipt.quoted_usd_cents, receipt.charged_usd_cents) == (400, 2)
    assert receipt.balance_after == 120984
    assert (receipt.capability, receipt.provider) == ("reason", "openai")
    assert receipt.charged_usd_micros is None
    assert receipt.cost_usd_micros == 20_000
    assert receipt.idempotent_replay is False
    # The real server sends no day figures.
    assert (receipt.spent_today_usd_micros, receipt.daily_cap_usd_micros) == (None, None)


async def test_reason_parses_saturn_local_day_figures(
    saturn: SaturnClient, router: respx.Router
) -> None:
    route = router.post("/v1/capabilities/reason")
    route.side_effect = [
        httpx.Response(
            200,
            json=reason_body(),
            headers={
                **RECEIPT_HEADERS,
                "X-Saturn-Spent-Today-Usd-Micros": "2480000",
                "X-Saturn-Daily-Cap-Usd-Micros": "10000000",
            },
        ),
        # No daily cap: only the spend.
        httpx.Response(
            200,
            json=reason_body(),
            headers={**RECEIPT_HEADERS, "X-Saturn-Spent-Today-Usd-Micros": " 17 "},
        ),
        httpx.Response(
            200,
            json=reason_body(),
            headers={
                **RECEIPT_HEADERS,
                "X-Saturn-Spent-Today-Usd-Micros": "lots",
                "X-Saturn-Daily-Cap-Usd-Micros": "",
            },
        ),
    ]
    receipts = [
        (await saturn.reason(ReasonRequest(prompt="hi"), api_key=AGENT_KEY)).receipt
        for _ in range(3)
    ]
    figures = [(r.spent_today_usd_micros, r.daily_cap_usd_micros) for r in receipts]
    assert figures == [(2_480_000, 10_000_000), (17, None), (None, None)]


async def test_reason_without_per_call_key_uses_the_default(
    saturn: SaturnClient, router: respx.Router
) -> None:
    route = router.post("/v1/capabilities/reason").respond(200, json=reason_body())
    result = await saturn.reason(ReasonRequest(prompt="hi"))
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {PRIMARY_KEY}"
    assert "Idempotency-Key" not in route.calls.last.request.headers
    assert body_of(route.calls.last.request) == {"prompt": "hi"}
    assert result.receipt.audit_id is None


async def test_reason_parses_saturn_local_micros_and_replay(
    saturn: SaturnClient, router: respx.Router
) -> None:
    router.post("/v1/capabilities/reason").respond(
        200,
        json=reason_body(),
        headers={
            **RECEIPT_HEADERS,
            "X-Saturn-Quoted-Usd-Micros": "4000000",
            "X-Saturn-Charged-Usd-Micros": "12345",
            "X-Saturn-Idempotent-Replay": "true",
        },
    )
    receipt = (await saturn.reason(ReasonRequest(prompt="hi"), api_key=AGENT_KEY)).receipt
    assert (receipt.quoted_usd_micros, receipt.charged_usd_micros) == (4_000_000, 12_345)
    assert receipt.cost_usd_micros == 12_345
    assert receipt.idempotent_replay is True


async def test_reason_tolerates_garbled_receipt_headers(
    saturn: SaturnClient, router: respx.Router
) -> None:
    router.post("/v1/capabilities/reason").respond(
        200,
        json={"content": "ok", "model": "m"},
        headers={
            "X-Saturn-Audit-Id": "  ",
            "X-Saturn-Quoted-Sats": "lots",
            "X-Saturn-Charged-Sats": "",
            "X-Saturn-Charged-Usd-Cents": "1.5",
            "X-Saturn-Quoted-Usd-Cents": "7.0",
            "X-Saturn-Charged-Usd-Micros": "NaN",
            "X-Saturn-Idempotent-Replay": "maybe",
        },
    )
    result = await saturn.reason(ReasonRequest(prompt="hi"), api_key=AGENT_KEY)
    receipt = result.receipt
    assert receipt.audit_id is None
    assert receipt.quoted_sats is None
    assert receipt.charged_sats is None
    assert receipt.charged_usd_cents is None
    assert receipt.quoted_usd_cents == 7
    assert receipt.charged_usd_micros is None
    assert receipt.idempotent_replay is False
    assert (result.usage.total_tokens, result.content) == (0, "ok")


@pytest.mark.parametrize(
    "kwargs",
    [{"json": {"model": "m"}}, {"text": "not json"}, {"json": ["content"]}],
)
async def test_reason_with_a_malformed_success_body_raises(
    saturn: SaturnClient, router: respx.Router, kwargs: dict[str, Any]
) -> None:
    router.post("/v1/capabilities/reason").respond(200, **kwargs)
    with pytest.raises(SaturnError) as info:
        await saturn.reason(ReasonRequest(prompt="hi"), api_key=AGENT_KEY)
    assert info.value.code == "BAD_RESPONSE"
    assert not isinstance(info.value, SaturnUnavailable)


async def test_reason_per_call_timeout_overrides_the_default(
    saturn: SaturnClient, router: respx.Router
) -> None:
    route = router.post("/v1/capabilities/reason").respond(200, json=reason_body())
    await saturn.reason(ReasonRequest(prompt="hi"), api_key=AGENT_KEY, timeout=42.0)
    timeout = route.calls.last.request.extensions["timeout"]
    assert timeout["read"] == 42.0
    assert timeout["connect"] == 2.0


# -- construction, secrets, real transport ------------------------------------------------


async def test_repr_hides_the_key() -> None:
    async with SaturnClient(base_url=BASE_URL, api_key=PRIMARY_KEY) as client:
        text = repr(client)
    assert PRIMARY_KEY not in text
    assert "a" * 16 not in text
    assert "***" in text


async def test_a_call_without_any_key_is_refused_before_sending(router: respx.Router) -> None:
    route = router.get("/v1/agents").respond(200, json=[])
    transport = httpx.MockTransport(router.async_handler)
    async with SaturnClient(base_url=BASE_URL, transport=transport) as client:
        with pytest.raises(ValueError, match="API key"):
            await client.list_agents()
    assert route.call_count == 0


@pytest.mark.parametrize("empty", ["", SecretStr("")])
async def test_an_empty_per_call_key_never_falls_back_to_the_primary_key(
    saturn: SaturnClient, router: respx.Router, empty: str | SecretStr
) -> None:
    route = router.post("/v1/capabilities/reason").respond(200, json=reason_body())
    with pytest.raises(ValueError, match="API key"):
        await saturn.reason(ReasonRequest(prompt="hi"), api_key=empty)
    assert route.call_count == 0


async def test_real_aiohttp_transport_round_trip() -> None:
    seen: dict[str, Any] = {}

    async def handle(request: web.Request) -> web.Response:
        seen["auth"] = request.headers.get("Authorization")
        seen["body"] = await request.json()
        return web.json_response(
            reason_body(), headers={**RECEIPT_HEADERS, "X-Saturn-Charged-Usd-Micros": "17"}
        )

    app = web.Application()
    app.router.add_post("/v1/capabilities/reason", handle)
    async with TestServer(app, host="127.0.0.1") as server:
        base_url = str(server.make_url("")).rstrip("/")
        async with SaturnClient(base_url=base_url, api_key=PRIMARY_KEY) as client:
            result = await client.reason(ReasonRequest(prompt="x"), api_key=AGENT_KEY)
    assert seen == {"auth": f"Bearer {AGENT_KEY}", "body": {"prompt": "x"}}
    assert result.receipt.charged_usd_micros == 17


async def test_real_transport_unreachable_server_is_unavailable(sleeps: list[float]) -> None:
    async with SaturnClient(
        base_url="http://127.0.0.1:9", api_key=PRIMARY_KEY, max_retries=1, connect_timeout=0.5
    ) as client:
        with pytest.raises(SaturnUnavailable) as info:
            await client.get_agent(AGENT_ID)
        assert await client.health() is False
    assert isinstance(info.value.__cause__, Exception)
    assert not isinstance(info.value, SaturnServerError)
    assert len(sleeps) == 2  # one retry each for get_agent and health
