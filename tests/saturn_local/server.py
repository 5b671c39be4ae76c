"""saturn-local as a real process: uvicorn on a free 127.0.0.1 port."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from tests.saturn_local.conftest import BOOTSTRAP_KEY

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def run_server(db_url: str, **env: str) -> AsyncIterator[str]:
    port = free_port()
    environ = {
        **os.environ,
        "SATURN_LOCAL_DATABASE_URL": db_url,
        "SATURN_LOCAL_BOOTSTRAP_KEY": BOOTSTRAP_KEY,
        "SATURN_LOCAL_DB_POOL_SIZE": "20",
        "SATURN_LOCAL_LOG_LEVEL": "WARNING",
        **env,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "saturn_local.main:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
        env=environ,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient() as probe:
            while True:
                assert proc.returncode is None, "saturn-local exited during startup"
                with contextlib.suppress(httpx.HTTPError):
                    if (await probe.get(f"{url}/healthz")).status_code == 200:
                        break
                assert time.monotonic() < deadline, "saturn-local did not start"
                await asyncio.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()
