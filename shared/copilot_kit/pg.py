"""Embedded Postgres (the ``pgserver`` package) and database bootstrap helpers."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import asyncpg

from copilot_kit.db import asyncpg_connect_args, to_plain_url, with_database


def start_embedded(data_dir: Path, *, keep_running: bool = True) -> str:
    """Start (or reuse) the embedded server under ``data_dir``; return its admin URL.

    With ``keep_running`` the server outlives this process and :func:`stop_embedded` stops
    it; without, pgserver stops it when the last process that asked for it exits.
    """
    import warnings

    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (root shells, CI); harmless here.
        warnings.simplefilter("ignore")
        import pgserver  # imported lazily: only the embedded path needs it

    data_dir.mkdir(parents=True, exist_ok=True)
    mode = None if keep_running else "stop"
    server = pgserver.get_server(  # type: ignore[attr-defined]
        data_dir.resolve(), cleanup_mode=mode
    )
    return str(server.get_uri())


def embedded_pid(data_dir: Path) -> int | None:
    pid_file = data_dir / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def stop_embedded(data_dir: Path, timeout: float = 30.0) -> bool:
    """Fast shutdown of the embedded server; True if one was running."""
    pid = embedded_pid(data_dir)
    if pid is None:
        return False
    os.kill(pid, signal.SIGINT)  # SIGINT = "fast" shutdown: abort sessions, checkpoint, exit
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if embedded_pid(data_dir) is None:
            return True
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return True


async def ensure_database(server_url: str, database: str, *, template: str | None = None) -> str:
    """Create ``database`` on the server if it does not exist; return its URL."""
    conn = await asyncpg.connect(**asyncpg_connect_args(with_database(server_url, "postgres")))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            clause = f' TEMPLATE "{template}"' if template else ""
            await conn.execute(f'CREATE DATABASE "{database}"{clause}')
    finally:
        await conn.close()
    return to_plain_url(with_database(server_url, database))


async def drop_database(server_url: str, database: str) -> None:
    conn = await asyncpg.connect(**asyncpg_connect_args(with_database(server_url, "postgres")))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await conn.close()
