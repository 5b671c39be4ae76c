"""Apply a service's alembic migrations programmatically (at ``up`` and in tests)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from copilot_kit.db import make_engine


def migrations_root() -> Path:
    override = os.environ.get("COPILOT_MIGRATIONS_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(database: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_root() / database))
    return cfg


async def upgrade(url: str, database: str, revision: str = "heads") -> None:
    """Migrate the database at ``url`` with the environment ``migrations/<database>``."""
    cfg = alembic_config(database)

    def run(sync_conn: Connection) -> None:
        cfg.attributes["connection"] = sync_conn
        command.upgrade(cfg, revision)

    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(run)
    finally:
        await engine.dispose()


def upgrade_sync(url: str, database: str, revision: str = "heads") -> None:
    asyncio.run(upgrade(url, database, revision))


def run_env() -> None:
    """Body of every ``migrations/<database>/env.py``.

    Uses the connection handed over by :func:`upgrade`; run from the alembic CLI it connects
    to ``sqlalchemy.url`` (or ``DATABASE_URL``) itself.
    """
    from alembic import context

    cfg = context.config
    connection = cfg.attributes.get("connection")

    def migrate(conn: Connection) -> None:
        context.configure(connection=conn, target_metadata=None, transaction_per_migration=False)
        with context.begin_transaction():
            context.run_migrations()

    if connection is not None:
        migrate(connection)
        return

    url = cfg.get_main_option("sqlalchemy.url") or os.environ["DATABASE_URL"]

    async def run_online() -> None:
        engine = make_engine(url, pool_size=1, max_overflow=0)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(migrate)
        finally:
            await engine.dispose()

    asyncio.run(run_online())
