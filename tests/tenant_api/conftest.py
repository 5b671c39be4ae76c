"""tenant-api under test: a real app on this test's own database, Saturn faked at the HTTP
level (respx behind a real SaturnClient), so the outgoing requests can be asserted."""

from __future__ import annotations

import itertools
import json
import os
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
import respx

from copilot_kit.crypto import Keyring
from copilot_kit.db import asyncpg_connect_args
from copilot_kit.migrate import upgrade
from copilot_kit.pg import drop_database, ensure_database
from copilot_kit.saturn.client import SaturnClient
from tenant_api.config import Settings
from tenant_api.main import create_app

SATURN_URL = "http://saturn.test"
SATURN_ADMIN_KEY = "sk_agt_" + "a" * 64

Failure = Exception | httpx.Response


@dataclass
class FakeAgent:
    id: str
    name: str
    status: str = "active"
    api_key: str = ""
    max_per_call_usd_cents: int | None = None
    max_per_day_usd_cents: int | None = 1000  # a default policy the caller must replace

    def wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "accountId": "acc_1",
            "name": self.name,
            "role": "worker",
            "status": self.status,
            "metadata": None,
            "createdAt": "2025-01-01T00:00:00Z",
            "updatedAt": "2025-01-01T00:00:00Z",
        }

    def policy(self) -> dict[str, Any]:
        return {
            "id": "pol_" + self.id,
            "agentId": self.id,
            "maxPerCallUsdCents": self.max_per_call_usd_cents,
            "maxPerDayUsdCents": self.max_per_day_usd_cents,
            "killSwitch": False,
        }


def new_agent_key() -> str:
    return "sk_agt_" + secrets.token_hex(32)


@dataclass
class FakeSaturn:
    """Saturn's management API in memory, with failures injectable per operation."""

    agents: dict[str, FakeAgent] = field(default_factory=dict)
    failures: dict[str, list[Failure]] = field(default_factory=dict)
    log: list[tuple[str, str, dict[str, Any] | None]] = field(default_factory=list)
    router: respx.MockRouter = field(init=False)
    # agent id -> rows of saturn-local's usage extension; None = a server without it.
    usage_days: dict[str, list[dict[str, Any]]] | None = field(default_factory=dict)
    today_spend_usd_cents: dict[str, int] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.router = respx.MockRouter(base_url=SATURN_URL, assert_all_called=False)
        r = self.router
        r.get("/v1/agents", name="list").mock(side_effect=self._wrap("list", self._list))
        r.post("/v1/agents", name="create").mock(side_effect=self._wrap("create", self._create))
        r.patch(path__regex=r"^/v1/agents/(?P<agent_id>[^/]+)/policy$", name="policy").mock(
            side_effect=self._wrap("policy", self._policy)
        )
        r.post(path__regex=r"^/v1/agents/(?P<agent_id>[^/]+)/regenerate$").mock(
            side_effect=self._wrap("regenerate", self._regenerate)
        )
        r.patch(path__regex=r"^/v1/agents/(?P<agent_id>[^/]+)$").mock(
            side_effect=self._wrap("status", self._status)
        )
        r.get(path__regex=r"^/v1/agents/(?P<agent_id>[^/]+)/usage$").mock(
            side_effect=self._wrap("usage", self._usage)
        )
        r.get("/v1/admin/agents").mock(side_effect=self._wrap("admin_agents", self._admin_agents))

    def fail(self, operation: str, *failures: Failure) -> None:
        """The next calls of ``operation`` get these failures, in order."""
        self.failures.setdefault(operation, []).extend(failures)

    def calls(self, operation: str) -> list[dict[str, Any] | None]:
        return [body for op, _, body in self.log if op == operation]

    def ops(self) -> list[str]:
        return [op for op, _, _ in self.log]

    def transport(self) -> httpx.AsyncBaseTransport:
        return httpx.MockTransport(self.router.async_handler)

    def _wrap(
        self, operation: str, handler: Callable[..., httpx.Response]
    ) -> Callable[..., httpx.Response]:
        def run(request: httpx.Request, **kwargs: str) -> httpx.Response:
            assert request.headers["authorization"] == f"Bearer {SATURN_ADMIN_KEY}"
            body = json.loads(request.content) if request.content else None
            self.log.append((operation, request.url.path, body))
            queued = self.failures.get(operation)
            if queued:
                failure = queued.pop(0)
                if isinstance(failure, httpx.Response):
                    return failure
                raise failure
            return handler(body, **kwargs)

        return run

    def _list(self, _body: Any) -> httpx.Response:
        return httpx.Response(200, json=[a.wire() for a in self.agents.values()])

    def _create(self, body: dict[str, Any]) -> httpx.Response:
        agent = FakeAgent(id=f"agt_{next(self._ids):04d}", name=body["name"])
        agent.api_key = new_agent_key()
        self.agents[agent.id] = agent
        return httpx.Response(
            201, json={**agent.wire(), "apiKey": agent.api_key, "policy": agent.policy()}
        )

    def _agent(self, agent_id: str) -> FakeAgent | httpx.Response:
        agent = self.agents.get(agent_id)
        if agent is None:
            return httpx.Response(
                404, json={"error": {"code": "NOT_FOUND", "message": "Agent not found"}}
            )
        return agent

    def _policy(self, body: dict[str, Any], agent_id: str) -> httpx.Response:
        agent = self._agent(agent_id)
        if isinstance(agent, httpx.Response):
            return agent
        if "maxPerCallUsdCents" in body:
            agent.max_per_call_usd_cents = body["maxPerCallUsdCents"]
        if "maxPerDayUsdCents" in body:
            agent.max_per_day_usd_cents = body["maxPerDayUsdCents"]
        return httpx.Response(200, json=agent.policy())

    def _regenerate(self, _body: Any, agent_id: str) -> httpx.Response:
        agent = self._agent(agent_id)
        if isinstance(agent, httpx.Response):
            return agent
        agent.api_key = new_agent_key()
        return httpx.Response(200, json={**agent.wire(), "apiKey": agent.api_key})

    def _status(self, body: dict[str, Any], agent_id: str) -> httpx.Response:
        agent = self._agent(agent_id)
        if isinstance(agent, httpx.Response):
            return agent
        agent.status = body["status"]
        return httpx.Response(200, json=agent.wire())

    def _usage(self, _body: Any, agent_id: str) -> httpx.Response:
        if self.usage_days is None:
            # What Express answers for a route the real server does not have.
            return httpx.Response(404, text=f"Cannot GET /v1/agents/{agent_id}/usage")
        return httpx.Response(
            200, json={"agentId": agent_id, "days": self.usage_days.get(agent_id, [])}
        )

    def _admin_agents(self, _body: Any) -> httpx.Response:
        rows = [
            {**a.wire(), "todaySpendUsdCents": self.today_spend_usd_cents.get(a.id, 0)}
            for a in self.agents.values()
        ]
        return httpx.Response(200, json=rows)

    def by_name(self, name: str) -> list[FakeAgent]:
        return [a for a in self.agents.values() if a.name == name]


def saturn_down() -> httpx.Response:
    return httpx.Response(
        503, json={"error": {"code": "INTERNAL_ERROR", "message": "down for maintenance"}}
    )


def saturn_timeout() -> Exception:
    return httpx.ReadTimeout("timed out")


@pytest.fixture(scope="session")
async def template_databases(pg_server_url: str) -> AsyncIterator[dict[str, str]]:
    """Only the tenant_api template: these tests must not depend on other services'
    migrations (overrides the root fixture for this directory)."""
    template = f"tmpl_tenant_api_only_{os.getpid()}"
    await drop_database(pg_server_url, template)
    await upgrade(await ensure_database(pg_server_url, template), "tenant_api")
    yield {"tenant_api": template}
    await drop_database(pg_server_url, template)


@pytest.fixture
def keyring_spec() -> str:
    return Keyring.new_spec("k1")


@pytest.fixture
def settings(tenant_db_url: str, keyring_spec: str) -> Settings:
    return Settings(
        database_url=tenant_db_url,
        admin_token="adm_" + secrets.token_hex(16),
        service_token="svc_" + secrets.token_hex(16),
        token_secret=secrets.token_hex(32),
        encryption_keys=keyring_spec,
        saturn_base_url=SATURN_URL,
        saturn_admin_key=SATURN_ADMIN_KEY,
    )


@pytest.fixture
def saturn() -> FakeSaturn:
    return FakeSaturn()


@dataclass
class Api:
    """The app over ASGI, with the tokens it accepts."""

    http: httpx.AsyncClient
    settings: Settings

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.admin_token.get_secret_value()}"}

    @property
    def service(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.service_token.get_secret_value()}"}

    async def signup(
        self, external_id: str, plan: str = "free", name: str | None = None, **extra: Any
    ) -> httpx.Response:
        body = {"external_id": external_id, "name": name or f"Customer {external_id}", "plan": plan}
        return await self.http.post("/v1/customers", json={**body, **extra}, headers=self.admin)


@pytest.fixture
async def api(settings: Settings, saturn: FakeSaturn) -> AsyncIterator[Api]:
    client = SaturnClient(
        base_url=SATURN_URL,
        api_key=SATURN_ADMIN_KEY,
        timeout=2.0,
        max_retries=0,
        transport=saturn.transport(),
    )
    app = create_app(settings, saturn_client=client, run_scheduler=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://tenant-api"
        ) as http,
    ):
        yield Api(http=http, settings=settings)
    await client.aclose()


@pytest.fixture
async def db(tenant_db_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(**asyncpg_connect_args(tenant_db_url))
    yield conn
    await conn.close()
