"""Burst allowance end to end: the request that hits the cap is served under a raised cap."""

from __future__ import annotations

import uuid

from tests.e2e.client import StackClient
from tests.e2e.stackutil import StackHandle

CAP_CENTS = 10


async def test_burst_day_is_granted_once_then_the_cap_is_hard(running_stack: StackHandle) -> None:
    client = StackClient(running_stack.info)
    tier = f"burst-{uuid.uuid4().hex[:6]}"
    try:
        plan = await client.tenant.put(
            f"/v1/plans/{tier}",
            json={
                "name": "Burst test",
                "daily_cap_usd_cents": CAP_CENTS,
                "per_call_cap_usd_cents": 5,
                "seat_price_usd_cents": 5000,
                "burst_multiplier_percent": 200,
                "burst_days_per_month": 1,
            },
        )
        assert plan.status_code == 201, plan.text
        customer = await client.signup(tier)
        prompt = await client.prompt_costing(customer, CAP_CENTS * 10_000 // 6)

        statuses = []
        for _ in range(40):
            resp = await client.reason(customer, prompt)
            statuses.append(resp.status_code)
            if resp.status_code == 429:
                break
        # Served past the plan's cap (the burst), then refused at twice the cap.
        assert statuses[-1] == 429, statuses
        spent = await client.spent_today(customer)
        assert CAP_CENTS * 10_000 < spent <= 2 * CAP_CENTS * 10_000
        error = resp.json()["error"]
        assert error["daily_cap_usd_cents"] == 2 * CAP_CENTS

        bursts = await client.tenant.get("/v1/reports/bursts")
        assert bursts.status_code == 200
        rows = [row for row in bursts.json()["data"] if row["customer_id"] == customer.id]
        assert len(rows) == 1
        assert rows[0]["burst_days_used"] == 1
    finally:
        await client.aclose()
