"""Real Postgres for every test: an embedded server (or ``TEST_DATABASE_URL``), a template
database per service built by running its migrations once, and a fresh clone per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from copilot_kit.migrate import upgrade
from copilot_kit.pg import drop_database, ensure_database, start_embedded

ROOT = Path(__file__).resolve().parents[1]
TEST_PG_DIR = ROOT / ".data" / "test-pg"
DATABASES = ("tenant_api", "saturn_local")


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield external
        return
    # Shared by concurrent pytest runs; stopped when the last of them exits.
    yield start_embedded(TEST_PG_DIR, keep_running=False)


@pytest.fixture(scope="session")
async def template_databases(pg_server_url: str) -> AsyncIterator[dict[str, str]]:
    """``{service database: template name}``, each migrated to head once per session."""
    templates = {}
    for name in DATABASES:
        # Unique per run, so concurrent runs on one server never drop each other's.
        template = f"tmpl_{name}_{os.getpid()}"
        await drop_database(pg_server_url, template)
        url = await ensure_database(pg_server_url, template)
        await upgrade(url, name)
        templates[name] = template
    yield templates
    for template in templates.values():
        await drop_database(pg_server_url, template)


async def _fresh_database(server_url: str, template: str) -> tuple[str, str]:
    name = f"test_{uuid.uuid4().hex[:12]}"
    return name, await ensure_database(server_url, name, template=template)


@pytest.fixture
async def tenant_db_url(
    pg_server_url: str, template_databases: dict[str, str]
) -> AsyncIterator[str]:
    """A migrated, empty tenant-api database of this test's own."""
    name, url = await _fresh_database(pg_server_url, template_databases["tenant_api"])
    yield url
    await drop_database(pg_server_url, name)


@pytest.fixture
async def saturn_db_url(
    pg_server_url: str, template_databases: dict[str, str]
) -> AsyncIterator[str]:
    """A migrated, empty saturn-local database of this test's own."""
    name, url = await _fresh_database(pg_server_url, template_databases["saturn_local"])
    yield url
    await drop_database(pg_server_url, name)
