"""Helpers to drive the real CLI against a fresh data directory on free ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class StackHandle:
    info: dict[str, Any]
    env: dict[str, str]

    def cli(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return run_cli(self.env, *args, timeout=timeout)


def run_cli(
    env: dict[str, str], *args: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "saas_copilot", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def stack_env(base: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "SATURN_BASE_URL", "SATURN_ADMIN_KEY")
    }
    env.update(
        COPILOT_DATA_DIR=str(base / "data"),
        COPILOT_RUN_DIR=str(base / "run"),
        GATEWAY_PORT=str(free_port()),
        TENANT_API_PORT=str(free_port()),
        SATURN_LOCAL_PORT=str(free_port()),
        **extra,
    )
    return env
