"""Monitoring under test: the real tenant-api app (their ``create_app``) with the monitoring
routers added, Saturn faked at the HTTP level, and a real webhook receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as dtime
from typing import Any

import asyncpg
import httpx
import pytest
from aiohttp import web

from copilot_kit.crypto import Keyring
from copilot_kit.db import asyncpg_connect_args, make_engine, make_sessionmaker
from copilot_kit.migrate import upgrade
from copilot_kit.pg import drop_database, ensure_database
from copilot_kit.saturn.client import SaturnClient
from tenant_api.config import Settings
from tenant_api.context import AppContext
from tenant_api.main import create_app
from tenant_api.monitoring.settings import MonitoringSettings
from tenant_api.webhooks.delivery import DeliveryWorker
from tests.tenant_api.conftest import SATURN_ADMIN_KEY, SATURN_URL, FakeSaturn


@pytest.fixture(scope="session")
async def template_databases(pg_server_url: str) -> AsyncIterator[dict[str, str]]:
    """Only the tenant_api template (overrides the root fixture for this directory)."""
    template = f"tmpl_tenant_api_monitoring_{os.getpid()}"
    await drop_database(pg_server_url, template)
    await upgrade(await ensure_database(pg_server_url, template), "tenant_api")
    yield {"tenant_api": template}
    await drop_database(pg_server_url, template)


@pytest.fixture
def settings(tenant_db_url: str) -> Settings:
    return Settings(
        database_url=tenant_db_url,
        admin_token="adm_" + secrets.token_hex(16),
        service_token="svc_" + secrets.token_hex(16),
        token_secret=secrets.token_hex(32),
        encryption_keys=Keyring.new_spec("k1"),
        saturn_base_url=SATURN_URL,
        saturn_admin_key=SATURN_ADMIN_KEY,
    )


@pytest.fixture
def monitoring_settings() -> MonitoringSettings:
    return MonitoringSettings(
        webhook_timeout_seconds=1.0,
        webhook_backoff_base_seconds=0.05,
        webhook_backoff_max_seconds=0.2,
        webhook_max_attempts=5,
        scheduler_enabled=False,
    )


@pytest.fixture
def saturn() -> FakeSaturn:
    return FakeSaturn()


@dataclass
class Api:
    http: httpx.AsyncClient
    settings: Settings
    context: AppContext
    db: asyncpg.Connection

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.admin_token.get_secret_value()}"}

    @property
    def service(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.service_token.get_secret_value()}"}

    async def customer(self, external_id: str, plan: str = "free", seats: int = 1) -> str:
        """A signed-up customer, backdated so it existed on every simulated day."""
        response = await self.http.post(
            "/v1/customers",
            json={"external_id": external_id, "name": external_id, "plan": plan, "seats": seats},
            headers=self.admin,
        )
        assert response.status_code == 201, response.text
        customer_id: str = response.json()["id"]
        await self.db.execute(
            "UPDATE customers SET created_at = '2020-01-01T00:00:00Z' WHERE id = $1",
            customer_id,
        )
        return customer_id

    async def add_events(
        self,
        customer_id: str,
        day: date,
        *costs_usd_micros: int,
        outcome: str = "ok",
        hour: int = 12,
    ) -> None:
        """Usage events on ``day`` (UTC), as the usage route stores them."""
        at = datetime.combine(day, dtime(hour), tzinfo=UTC)
        await self.db.executemany(
            "INSERT INTO usage_events (customer_id, id, outcome, cost_usd_micros, "
            "input_tokens, output_tokens, model, occurred_at) "
            "VALUES ($1, $2, $3, $4, 10, 10, 'offline', $5)",
            [
                (customer_id, "req_" + secrets.token_hex(8), outcome, c, at)
                for c in costs_usd_micros
            ],
        )

    async def endpoint(self, url: str, *events: str) -> dict[str, Any]:
        response = await self.http.post(
            "/v1/webhook-endpoints",
            json={"url": url, "events": list(events) or ["usage.threshold_reached"]},
            headers=self.admin,
        )
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created


@pytest.fixture
async def db(tenant_db_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(**asyncpg_connect_args(tenant_db_url))
    yield conn
    await conn.close()


@pytest.fixture
async def api(settings: Settings, saturn: FakeSaturn, db: asyncpg.Connection) -> AsyncIterator[Api]:
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
        yield Api(http=http, settings=settings, context=app.state.context, db=db)
    await client.aclose()


@dataclass
class Received:
    event_id: str
    signature: str
    body: bytes
    status: int

    @property
    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    """A real HTTP server: answers from a script (status codes, or a hang), records all."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    script: list[int | str] = field(default_factory=list)
    default: int | str = 200
    delay_seconds: float = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        action = self.script.pop(0) if self.script else self.default
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        if action == "hang":
            await asyncio.sleep(30)
        status = int(action)
        self.requests.append(
            Received(
                request.headers.get("X-Copilot-Event-Id", ""),
                request.headers.get("X-Copilot-Signature", ""),
                body,
                status,
            )
        )
        return web.Response(status=status, text="ok")

    def delivered(self) -> list[Received]:
        return [r for r in self.requests if 200 <= r.status < 300]


ReceiverFactory = Callable[[], Awaitable[Receiver]]


@pytest.fixture
async def receivers() -> AsyncIterator[ReceiverFactory]:
    runners: list[web.AppRunner] = []

    async def make() -> Receiver:
        receiver = Receiver()
        app = web.Application()
        app.router.add_post("/hook", receiver.handle)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        host, port = runner.addresses[0][:2]
        receiver.url = f"http://{host}:{port}/hook"
        return receiver

    yield make
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def receiver(receivers: ReceiverFactory) -> Receiver:
    return await receivers()


@pytest.fixture
async def workers(
    settings: Settings, monitoring_settings: MonitoringSettings
) -> AsyncIterator[Callable[[], DeliveryWorker]]:
    """Delivery workers, each with its own engine: separate "processes" on one database."""
    made: list[tuple[DeliveryWorker, Any]] = []

    def make() -> DeliveryWorker:
        engine = make_engine(settings.database_url, pool_size=4)
        worker = DeliveryWorker(
            sessionmaker=make_sessionmaker(engine),
            keyring=settings.keyring(),
            settings=monitoring_settings,
        )
        made.append((worker, engine))
        return worker

    yield make
    for worker, engine in made:
        await worker.aclose()
        await engine.dispose()


async def deliver_until(
    predicate: Callable[[], bool], *workers: DeliveryWorker, within: float = 20.0
) -> None:
    """Tick the workers until ``predicate`` holds (no fixed sleeps)."""
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.gather(*(w.run_once() for w in workers))
        await asyncio.sleep(0.02)
