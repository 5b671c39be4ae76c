"""Start and stop the three services (and the embedded Postgres) as real processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from copilot_kit.db import to_plain_url
from copilot_kit.migrate import upgrade
from copilot_kit.pg import embedded_pid, ensure_database, start_embedded, stop_embedded
from saas_copilot.config import Paths, load_or_create_secrets, write_private_json


class StackError(Exception):
    """The stack could not be brought up or down; the message says why."""


@dataclass
class Service:
    name: str
    app: str  # uvicorn factory path
    port: int
    health_path: str
    env: dict[str, str] = field(default_factory=dict)

    def url(self, host: str) -> str:
        return f"http://{host}:{self.port}"


@dataclass
class StackPlan:
    services: list[Service]
    info: dict[str, Any]
    uses_embedded_pg: bool


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default))
    try:
        return int(raw)
    except ValueError as exc:
        raise StackError(f"{name} must be a port number, got {raw!r}") from exc


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); look at its state.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True


def read_stack(paths: Paths) -> dict[str, Any] | None:
    if not paths.stack_file.exists():
        return None
    try:
        data: dict[str, Any] = json.loads(paths.stack_file.read_text())
    except ValueError:
        return None
    return data


def running_pids(stack: dict[str, Any]) -> list[int]:
    return [int(pid) for pid in stack.get("pids", {}).values() if _pid_alive(int(pid))]


async def prepare_databases(paths: Paths, use_saturn_local: bool) -> tuple[str, str | None, bool]:
    server_url = os.environ.get("DATABASE_URL")
    embedded = not server_url
    if embedded:
        server_url = start_embedded(paths.pg_dir, keep_running=True)
    assert server_url is not None
    tenant_url = os.environ.get("TENANT_API_DATABASE_URL")
    if not tenant_url:
        tenant_url = await ensure_database(server_url, "tenant_api")
    await upgrade(tenant_url, "tenant_api")
    saturn_url = None
    if use_saturn_local:
        saturn_url = os.environ.get("SATURN_LOCAL_DATABASE_URL")
        if not saturn_url:
            saturn_url = await ensure_database(server_url, "saturn_local")
        await upgrade(saturn_url, "saturn_local")
    return to_plain_url(tenant_url), to_plain_url(saturn_url) if saturn_url else None, embedded


def plan_stack(paths: Paths) -> StackPlan:
    """Everything `up` will start, with the environment of each service."""
    secrets = load_or_create_secrets(paths)
    host = os.environ.get("COPILOT_BIND_HOST", "127.0.0.1")
    public_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    gateway_port = _port("GATEWAY_PORT", 8000)
    tenant_port = _port("TENANT_API_PORT", 8001)
    saturn_port = _port("SATURN_LOCAL_PORT", 8002)

    hosted_url = os.environ.get("SATURN_BASE_URL")
    use_saturn_local = not hosted_url
    if hosted_url and not os.environ.get("SATURN_ADMIN_KEY"):
        raise StackError("SATURN_BASE_URL is set but SATURN_ADMIN_KEY is not: give both.")

    try:
        tenant_db, saturn_db, embedded = asyncio.run(prepare_databases(paths, use_saturn_local))
    except StackError:
        raise
    except Exception as exc:
        raise StackError(f"could not prepare the databases: {exc}") from exc

    admin_token = os.environ.get("COPILOT_ADMIN_TOKEN") or secrets["admin_token"]
    saturn_url = hosted_url or f"http://{public_host}:{saturn_port}"
    saturn_admin_key = os.environ.get("SATURN_ADMIN_KEY") or secrets["saturn_admin_key"]
    encryption_keys = os.environ.get("COPILOT_ENCRYPTION_KEYS") or secrets["encryption_keys"]
    tenant_url = f"http://{public_host}:{tenant_port}"
    services: list[Service] = []
    if use_saturn_local:
        assert saturn_db is not None
        services.append(
            Service(
                "saturn-local",
                "saturn_local.main:create_app",
                saturn_port,
                "/health",
                {
                    "SATURN_LOCAL_DATABASE_URL": saturn_db,
                    "SATURN_LOCAL_BOOTSTRAP_KEY": saturn_admin_key,
                },
            )
        )
    services.append(
        Service(
            "tenant-api",
            "tenant_api.main:create_app",
            tenant_port,
            "/healthz",
            {
                "TENANT_API_DATABASE_URL": tenant_db,
                "COPILOT_ADMIN_TOKEN": admin_token,
                "COPILOT_SERVICE_TOKEN": secrets["service_token"],
                "COPILOT_TOKEN_SECRET": secrets["token_secret"],
                "COPILOT_ENCRYPTION_KEYS": encryption_keys,
                "SATURN_BASE_URL": saturn_url,
                "SATURN_ADMIN_KEY": saturn_admin_key,
            },
        )
    )
    services.append(
        Service(
            "copilot-gateway",
            "copilot_gateway.main:create_app",
            gateway_port,
            "/healthz",
            {
                "TENANT_API_URL": tenant_url,
                "SATURN_BASE_URL": saturn_url,
                "COPILOT_SERVICE_TOKEN": secrets["service_token"],
                "COPILOT_TOKEN_SECRET": secrets["token_secret"],
            },
        )
    )
    info: dict[str, Any] = {
        "gateway_url": f"http://{public_host}:{gateway_port}",
        "tenant_api_url": tenant_url,
        "saturn_url": saturn_url,
        "admin_token": admin_token,
        "service_token": secrets["service_token"],
        "tenant_api_database_url": tenant_db,
        "bind_host": host,
    }
    if use_saturn_local:
        info["saturn_admin_key"] = saturn_admin_key
        info["saturn_database_url"] = saturn_db
    if embedded:
        info["embedded_pg_dir"] = str(paths.pg_dir)
    return StackPlan(services=services, info=info, uses_embedded_pg=embedded)


def _spawn(service: Service, host: str, paths: Paths) -> subprocess.Popen[bytes]:
    paths.log_dir.mkdir(parents=True, exist_ok=True)
    log = open(paths.log_dir / f"{service.name}.log", "ab")  # noqa: SIM115 - owned by the child
    env = {**os.environ, **service.env, "PYTHONUNBUFFERED": "1"}
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        service.app,
        "--host",
        host,
        "--port",
        str(service.port),
        "--no-access-log",
        "--log-level",
        os.environ.get("COPILOT_LOG_LEVEL", "info").lower(),
        "--timeout-graceful-shutdown",
        "10",
    ]
    # A session of its own: the service outlives a detached `up`, and Ctrl-C reaches it
    # only through us, so shutdown happens in order.
    return subprocess.Popen(
        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def _wait_healthy(
    service: Service, proc: subprocess.Popen[bytes], timeout: float, paths: Paths
) -> None:
    url = f"http://127.0.0.1:{service.port}{service.health_path}"
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise StackError(
                    f"{service.name} exited with code {proc.returncode}; "
                    f"see its log in {paths.log_dir / (service.name + '.log')}"
                )
            try:
                if client.get(url).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
    raise StackError(f"{service.name} did not become healthy within {timeout:.0f} s")


def terminate(pids: list[int], timeout: float = 15.0) -> None:
    """SIGTERM each process group, then SIGKILL whatever is still there."""
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_pid_alive(pid) for pid in pids):
        _reap(pids)
        time.sleep(0.05)
    for pid in pids:
        if _pid_alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
    _reap(pids)


def _reap(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def start(paths: Paths, *, health_timeout: float = 60.0) -> tuple[dict[str, Any], list[int]]:
    """Bring every service up and return the stack description and the child pids."""
    existing = read_stack(paths)
    if existing and running_pids(existing):
        raise StackError(
            "the stack is already up (see .run/stack.json); run `saas-copilot down` first"
        )
    plan = plan_stack(paths)
    host = plan.info["bind_host"]
    for service in plan.services:
        if not _port_free(host, service.port):
            raise StackError(
                f"port {service.port} for {service.name} is in use; "
                f"set {service.name.upper().replace('-', '_')}_PORT or free it"
            )
    started: list[tuple[Service, subprocess.Popen[bytes]]] = []
    try:
        # In order: each service needs the one before it.
        for service in plan.services:
            proc = _spawn(service, host, paths)
            started.append((service, proc))
            _wait_healthy(service, proc, health_timeout, paths)
    except BaseException:
        terminate([proc.pid for _, proc in started])
        if plan.uses_embedded_pg:
            stop_embedded(paths.pg_dir)
        raise
    stack = dict(plan.info)
    stack["pids"] = {service.name: proc.pid for service, proc in started}
    stack["stack_file"] = str(paths.stack_file)
    stack["log_dir"] = str(paths.log_dir)
    write_private_json(paths.stack_file, stack)
    return stack, [proc.pid for _, proc in started]


def stop(paths: Paths) -> bool:
    """Stop a stack started by `up`; True if anything was running."""
    stack = read_stack(paths)
    was_running = False
    if stack:
        pids = running_pids(stack)
        was_running = bool(pids)
        terminate(pids)
        pg_dir = stack.get("embedded_pg_dir")
        if pg_dir and stop_embedded(Path(pg_dir)):
            was_running = True
        paths.stack_file.unlink(missing_ok=True)
    elif embedded_pid(paths.pg_dir) is not None:
        was_running = stop_embedded(paths.pg_dir)
    return was_running
