"""Database URLs, engines and sessions (SQLAlchemy 2 async over asyncpg)."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def to_async_url(url: str) -> str:
    """Any ``postgres://`` / ``postgresql://`` URL as a SQLAlchemy asyncpg URL."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def to_plain_url(url: str) -> str:
    """The URL as libpq/asyncpg spell it (``postgresql://``), for raw asyncpg connections."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def with_database(url: str, database: str) -> str:
    """The same server, another database."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def asyncpg_connect_args(url: str) -> dict[str, object]:
    """Keyword arguments for ``asyncpg.connect`` from a URL (handles ``?host=/socket/dir``)."""
    parsed = make_url(url)
    host = parsed.query.get("host", parsed.host)
    if isinstance(host, tuple):
        host = host[0]
    args: dict[str, object] = {
        "user": parsed.username or "postgres",
        "database": parsed.database or "postgres",
        "host": host,
    }
    if parsed.password:
        args["password"] = parsed.password
    if parsed.port:
        args["port"] = parsed.port
    return args


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> AsyncEngine:
    return create_async_engine(
        to_async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=False,
        pool_recycle=1800,
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
