"""A small driver for the running stack: sign customers up, ask the copilot."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Customer:
    id: str
    external_id: str
    token: str


class StackClient:
    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.tenant = httpx.AsyncClient(
            base_url=info["tenant_api_url"],
            headers={"Authorization": f"Bearer {info['admin_token']}"},
            timeout=30,
        )
        self.gateway = httpx.AsyncClient(
            base_url=info["gateway_url"],
            timeout=60,
            limits=httpx.Limits(max_connections=300, max_keepalive_connections=300),
        )

    async def aclose(self) -> None:
        await self.tenant.aclose()
        await self.gateway.aclose()

    async def signup(self, plan: str = "free") -> Customer:
        external_id = f"e2e-{uuid.uuid4().hex[:10]}"
        resp = await self.tenant.post(
            "/v1/customers", json={"external_id": external_id, "name": external_id, "plan": plan}
        )
        assert resp.status_code == 201, resp.text
        customer_id = resp.json()["id"]
        tok = await self.tenant.post(f"/v1/customers/{customer_id}/access-tokens", json={})
        assert tok.status_code == 201, tok.text
        return Customer(id=customer_id, external_id=external_id, token=tok.json()["token"])

    async def reason(
        self,
        customer: Customer,
        prompt: str,
        *,
        max_output_tokens: int = 64,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> httpx.Response:
        return await self.gateway.post(
            "/v1/copilot/reason",
            json={"prompt": prompt, "max_output_tokens": max_output_tokens, **extra},
            headers={"Authorization": f"Bearer {customer.token}", **(headers or {})},
        )

    async def spent_today(self, customer: Customer) -> int:
        resp = await self.tenant.get(f"/v1/customers/{customer.id}/usage")
        assert resp.status_code == 200, resp.text
        spent: int = resp.json()["today"]["spent_usd_micros"]
        return spent

    async def prompt_costing(self, customer: Customer, target_micros: int) -> str:
        """A prompt whose call costs about ``target_micros`` (cost grows with its length)."""
        probe = "The supplier shall deliver the goods within thirty days of the order. " * 50
        resp = await self.reason(customer, probe)
        assert resp.status_code == 200, resp.text
        cost = resp.json()["cost_usd_micros"]
        assert cost > 0
        factor = max(1, target_micros // cost)
        return probe * factor
