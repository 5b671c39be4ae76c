"""``make demo``: the whale story, end to end, on a fresh stack.

Three customers on the same plan. The whale sends large "analyze this document" requests in
a loop while the other two make normal requests at the same time. The whale is stopped at
their own cap with the limit-reached answer; the others all succeed; the whale is upgraded
and succeeds again at once; one customer churns and is refused. Exits non-zero if any of
that does not happen.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from saas_copilot.stack import StackError

PLAN = "free"
UPGRADE_PLAN = "pro"
# A long document: the offline model's cost grows with the prompt, like a real model's.
PARAGRAPH = (
    "Section {n}. The supplier shall deliver the goods described in Schedule A within thirty "
    "days of the purchase order. Late delivery incurs a penalty of one percent per week. "
    "Either party may terminate for material breach after a cure period of fifteen days. "
)


def document(pages: int) -> str:
    return "".join(PARAGRAPH.format(n=n) for n in range(pages * 10))


@dataclass
class Tally:
    external_id: str
    seats: int
    customer_id: str = ""
    token: str = ""
    plan: str = PLAN
    requests: int = 0
    succeeded: int = 0
    limited: int = 0
    other: list[str] = field(default_factory=list)
    spent_usd_micros: int = 0
    daily_cap_usd_cents: int = 0


class Demo:
    def __init__(self, stack: dict[str, Any]) -> None:
        self.stack = stack
        admin = {"Authorization": f"Bearer {stack['admin_token']}"}
        self.tenant = httpx.AsyncClient(base_url=stack["tenant_api_url"], headers=admin, timeout=30)
        self.gateway = httpx.AsyncClient(base_url=stack["gateway_url"], timeout=60)
        self.failures: list[str] = []

    async def aclose(self) -> None:
        await self.tenant.aclose()
        await self.gateway.aclose()

    def expect(self, ok: bool, what: str) -> None:
        print(("  ok   " if ok else "  FAIL ") + what)
        if not ok:
            self.failures.append(what)

    async def signup(self, tally: Tally) -> None:
        resp = await self.tenant.post(
            "/v1/customers",
            json={
                "external_id": tally.external_id,
                "name": tally.external_id.title(),
                "plan": PLAN,
                "seats": tally.seats,
            },
        )
        resp.raise_for_status()
        tally.customer_id = resp.json()["id"]
        tok = await self.tenant.post(f"/v1/customers/{tally.customer_id}/access-tokens", json={})
        tok.raise_for_status()
        tally.token = tok.json()["token"]

    async def ask(self, tally: Tally, prompt: str, max_output_tokens: int = 256) -> httpx.Response:
        tally.requests += 1
        resp = await self.gateway.post(
            "/v1/copilot/reason",
            json={"prompt": prompt, "max_output_tokens": max_output_tokens},
            headers={"Authorization": f"Bearer {tally.token}"},
        )
        if resp.status_code == 200:
            tally.succeeded += 1
        elif resp.status_code == 429 and resp.json()["error"]["code"] == "daily_limit_reached":
            tally.limited += 1
        else:
            tally.other.append(f"{resp.status_code} {resp.text[:200]}")
        return resp

    async def whale_loop(self, whale: Tally, doc: str, max_requests: int) -> httpx.Response | None:
        last_limit = None
        for _ in range(max_requests):
            resp = await self.ask(whale, f"Analyze this document and list the risks:\n{doc}")
            if resp.status_code == 429:
                last_limit = resp
                break
        return last_limit

    async def normal_loop(self, tally: Tally, count: int) -> None:
        for i in range(count):
            await self.ask(tally, f"Draft a two-line reply to ticket #{i}: where is my invoice?")

    async def refresh_usage(self, tally: Tally) -> None:
        resp = await self.tenant.get(f"/v1/customers/{tally.customer_id}/usage")
        resp.raise_for_status()
        today = resp.json()["today"]
        tally.spent_usd_micros = today["spent_usd_micros"]
        tally.daily_cap_usd_cents = today["daily_cap_usd_cents"]

    async def run(self) -> int:
        whale, alice, bob = Tally("whale-corp", 10), Tally("alice-co", 5), Tally("bob-ltd", 3)
        everyone = [whale, alice, bob]
        print(f"1. Three customers sign up on the '{PLAN}' plan.")
        for tally in everyone:
            await self.signup(tally)
        plans = {p["tier"]: p for p in (await self.tenant.get("/v1/plans")).json()["data"]}

        print("2. The whale analyzes 40-page documents in a loop; the others work normally.")
        doc = document(pages=40)
        limit_resp, *_ = await asyncio.gather(
            self.whale_loop(whale, doc, max_requests=200),
            self.normal_loop(alice, 12),
            self.normal_loop(bob, 12),
        )
        self.expect(limit_resp is not None, "the whale reached their daily cap (429)")
        if limit_resp is not None:
            err = limit_resp.json()["error"]
            print(f"     whale was told: {err['message']} upgrade at {err['upgrade_url']}")
            self.expect(
                err["type"] == "limit_reached" and "Retry-After" in limit_resp.headers,
                "the limit answer is structured, with Retry-After and an upgrade link",
            )
        for tally in (alice, bob):
            self.expect(
                tally.succeeded == tally.requests and not tally.other,
                f"{tally.external_id}: all {tally.requests} requests succeeded",
            )
        for tally in everyone:
            await self.refresh_usage(tally)
        self.expect(
            whale.spent_usd_micros <= whale.daily_cap_usd_cents * 10_000,
            "the whale's spend never exceeded their cap",
        )

        print(f"3. The whale upgrades to '{UPGRADE_PLAN}' and is served again at once.")
        resp = await self.tenant.patch(
            f"/v1/customers/{whale.customer_id}", json={"plan": UPGRADE_PLAN}
        )
        resp.raise_for_status()
        whale.plan = UPGRADE_PLAN
        after = await self.ask(whale, f"Analyze this document and list the risks:\n{doc}")
        self.expect(after.status_code == 200, "the upgraded whale's next request succeeded")

        print("4. bob-ltd churns and is refused from then on.")
        (await self.tenant.post(f"/v1/customers/{bob.customer_id}/churn")).raise_for_status()
        bob_before = bob.requests
        churned = await self.ask(bob, "Are you still there?")
        bob.requests = bob_before  # the refused probe is reported below, not in the tally
        self.expect(
            churned.status_code == 403 and churned.json()["error"]["code"] == "customer_inactive",
            "the churned customer gets 403 customer_inactive",
        )
        for tally in everyone:
            await self.refresh_usage(tally)
        self.print_table(everyone)
        self.print_margin(everyone, plans)
        await self.print_reports(whale)
        if self.failures:
            print(f"\nDEMO FAILED: {len(self.failures)} expectation(s) not met.")
            return 1
        print("\nDemo passed: the whale was capped, everybody else kept working.")
        return 0

    async def print_reports(self, whale: Tally) -> None:
        from tenant_api.reports.tables import format_report

        # The gateway records usage in batches off the response path: give the last
        # batch a moment to land before reading reports built from it.
        for _ in range(50):
            heavy = await self.tenant.get("/v1/reports/heavy-users", params={"min_days_at_cap": 1})
            heavy.raise_for_status()
            if any(row["customer_id"] == whale.customer_id for row in heavy.json()["data"]):
                break
            await asyncio.sleep(0.1)
        print("\nHeavy users this month (at their cap on at least 1 day):")
        print(format_report("heavy-users", heavy.json()))
        self.expect(
            any(row["customer_id"] == whale.customer_id for row in heavy.json()["data"]),
            "the whale is listed as a heavy user",
        )
        margin = await self.tenant.get("/v1/reports/margin")
        margin.raise_for_status()
        print("\nMargin this month:")
        print(format_report("margin", margin.json()))

    @staticmethod
    def print_table(everyone: list[Tally]) -> None:
        print()
        header = (
            f"{'customer':<12} {'plan':<6} {'requests':>8} {'succeeded':>9} "
            f"{'limited':>7} {'spent':>10} {'cap':>8}"
        )
        print(header)
        print("-" * len(header))
        for t in everyone:
            print(
                f"{t.external_id:<12} {t.plan:<6} {t.requests:>8} {t.succeeded:>9} {t.limited:>7} "
                f"${t.spent_usd_micros / 1e6:>9.4f} ${t.daily_cap_usd_cents / 100:>7.2f}"
            )

    @staticmethod
    def print_margin(everyone: list[Tally], plans: dict[str, Any]) -> None:
        revenue_cents = sum(plans[t.plan]["seat_price_usd_cents"] * t.seats for t in everyone)
        daily_caps_cents = sum(t.daily_cap_usd_cents for t in everyone)
        spent = sum(t.spent_usd_micros for t in everyone)
        print()
        print(f"Seat revenue this month: ${revenue_cents / 100:.2f}")
        print(f"AI spend today (Saturn ledger): ${spent / 1e6:.4f}")
        print(f"Worst-case AI cost per day (sum of caps): ${daily_caps_cents / 100:.2f}")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> int:
    from saas_copilot import stack as stack_mod
    from saas_copilot.config import Paths

    base = Path(tempfile.mkdtemp(prefix="copilot-demo-"))
    os.environ.update(
        COPILOT_DATA_DIR=str(base / "data"),
        COPILOT_RUN_DIR=str(base / "run"),
        GATEWAY_PORT=str(_free_port()),
        TENANT_API_PORT=str(_free_port()),
        SATURN_LOCAL_PORT=str(_free_port()),
    )
    for hosted in ("DATABASE_URL", "SATURN_BASE_URL", "SATURN_ADMIN_KEY"):
        os.environ.pop(hosted, None)
    paths = Paths.from_env()
    print("Starting a fresh stack (embedded Postgres, saturn-local with the offline model)...")
    try:
        stack, _ = stack_mod.start(paths)
    except StackError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1

    async def play() -> int:
        demo = Demo(stack)
        try:
            return await demo.run()
        finally:
            await demo.aclose()

    try:
        return asyncio.run(play())
    except Exception as exc:
        print(f"DEMO FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        print(json.dumps({"logs": str(paths.log_dir)}), file=sys.stderr)
        return 1
    finally:
        stack_mod.stop(paths)


if __name__ == "__main__":
    raise SystemExit(main())
