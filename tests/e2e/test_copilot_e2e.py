"""The product as its users meet it: three real processes on 127.0.0.1, the offline model."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from tests.e2e.client import Customer, StackClient
from tests.e2e.stackutil import StackHandle

FREE_CAP_MICROS = 100 * 10_000  # free plan: $1/day


async def test_whale_is_capped_while_others_keep_working(running_stack: StackHandle) -> None:
    client = StackClient(running_stack.info)
    try:
        whale, alice, bob = [await client.signup("free") for _ in range(3)]
        big = await client.prompt_costing(whale, FREE_CAP_MICROS // 12)
        statuses: list[int] = []

        async def whale_worker() -> None:
            for _ in range(40):
                resp = await client.reason(whale, big)
                statuses.append(resp.status_code)
                if resp.status_code == 429:
                    return

        async def normal(customer: Customer, count: int) -> list[int]:
            return [
                (await client.reason(customer, f"reply to #{i}")).status_code for i in range(count)
            ]

        results = await asyncio.gather(
            *(whale_worker() for _ in range(6)), normal(alice, 15), normal(bob, 15)
        )
        assert 429 in statuses
        assert set(statuses) <= {200, 429}
        assert results[-2] == [200] * 15
        assert results[-1] == [200] * 15
        assert await client.spent_today(whale) <= FREE_CAP_MICROS

        limited = await client.reason(whale, big)
        assert limited.status_code == 429
        error = limited.json()["error"]
        assert error["type"] == "limit_reached"
        assert error["code"] == "daily_limit_reached"
        assert error["plan"] == "free"
        assert error["upgrade_url"]
        assert error["daily_cap_usd_cents"] == 100
        midnight = (datetime.now(UTC) + timedelta(days=1)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        assert datetime.fromisoformat(error["resets_at"]) == midnight
        retry_after = int(limited.headers["Retry-After"])
        assert 0 < retry_after <= 86_400
        assert abs(retry_after - (midnight - datetime.now(UTC)).total_seconds()) < 30

        # The upgrade reaches Saturn before the 200: the very next request succeeds.
        upgrade = await client.tenant.patch(f"/v1/customers/{whale.id}", json={"plan": "pro"})
        assert upgrade.status_code == 200, upgrade.text
        assert (await client.reason(whale, big)).status_code == 200
    finally:
        await client.aclose()


async def test_200_concurrent_requests_never_exceed_the_cap(running_stack: StackHandle) -> None:
    client = StackClient(running_stack.info)
    try:
        customer = await client.signup("free")
        prompt = await client.prompt_costing(customer, FREE_CAP_MICROS // 50)
        spent_before = await client.spent_today(customer)
        responses = await asyncio.gather(*(client.reason(customer, prompt) for _ in range(200)))
        ok = [r for r in responses if r.status_code == 200]
        assert {r.status_code for r in responses} <= {200, 429}
        assert ok
        assert len(ok) < 200
        reported = sum(r.json()["cost_usd_micros"] for r in ok)
        spent = await client.spent_today(customer)
        assert spent <= FREE_CAP_MICROS
        assert spent - spent_before == reported
    finally:
        await client.aclose()


async def test_idempotent_retry_is_charged_once(running_stack: StackHandle) -> None:
    client = StackClient(running_stack.info)
    try:
        customer = await client.signup("free")
        key = {"Idempotency-Key": uuid.uuid4().hex}
        first = await client.reason(customer, "Summarize the contract.", headers=key)
        assert first.status_code == 200, first.text
        spent = await client.spent_today(customer)
        again = [
            await client.reason(customer, "Summarize the contract.", headers=key) for _ in range(3)
        ]
        assert {r.status_code for r in again} == {200}
        assert {r.json()["response"] for r in again} == {first.json()["response"]}
        assert await client.spent_today(customer) == spent
    finally:
        await client.aclose()


async def test_a_token_only_ever_reaches_its_own_customer(running_stack: StackHandle) -> None:
    client = StackClient(running_stack.info)
    try:
        a, b = await client.signup("free"), await client.signup("free")
        b_before = await client.spent_today(b)
        a_before = await client.spent_today(a)
        resp = await client.reason(
            a,
            "hello",
            headers={"X-Customer-Id": b.id, "X-Agent-Id": b.id},
        )
        assert resp.status_code == 200, resp.text
        smuggled = await client.reason(a, "hello", customer_id=b.id)
        assert smuggled.status_code == 422
        usage = await client.gateway.get(
            "/v1/copilot/usage",
            params={"customer_id": b.id},
            headers={"Authorization": f"Bearer {a.token}"},
        )
        assert usage.status_code == 200
        assert usage.json()["today"]["spent_usd_micros"] == await client.spent_today(a)
        assert await client.spent_today(b) == b_before
        assert await client.spent_today(a) > a_before
        forged = a.token[:-4] + ("AAAA" if not a.token.endswith("AAAA") else "BBBB")
        denied = await client.gateway.post(
            "/v1/copilot/reason",
            json={"prompt": "x"},
            headers={"Authorization": f"Bearer {forged}"},
        )
        assert denied.status_code == 401
    finally:
        await client.aclose()


async def test_churned_customer_is_refused(running_stack: StackHandle) -> None:
    client = StackClient(running_stack.info)
    try:
        customer = await client.signup("free")
        assert (await client.reason(customer, "hi")).status_code == 200
        churn = await client.tenant.post(f"/v1/customers/{customer.id}/churn")
        assert churn.status_code == 200, churn.text
        resp = await client.reason(customer, "still there?")
        assert resp.status_code == 403
        assert resp.json()["error"]["code"] == "customer_inactive"
    finally:
        await client.aclose()
