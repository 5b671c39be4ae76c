"""`saas-copilot up --detach` / `down` on a fresh data directory."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx

from tests.e2e.stackutil import run_cli, stack_env


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1]
    except OSError:
        return False
    return state != "Z"


def test_up_detach_serves_every_health_route_and_down_leaves_nothing(tmp_path: Path) -> None:
    env = stack_env(tmp_path)
    up = run_cli(env, "up", "--detach")
    assert up.returncode == 0, up.stdout + up.stderr
    stack_file = Path(env["COPILOT_RUN_DIR"]) / "stack.json"
    info = json.loads(stack_file.read_text())
    try:
        for key in (
            "gateway_url",
            "tenant_api_url",
            "saturn_url",
            "admin_token",
            "tenant_api_database_url",
            "saturn_admin_key",
            "saturn_database_url",
        ):
            assert info.get(key), key
        assert httpx.get(info["gateway_url"] + "/healthz").status_code == 200
        assert httpx.get(info["tenant_api_url"] + "/healthz").status_code == 200
        assert httpx.get(info["saturn_url"] + "/health").json()["status"] == "ok"
        plans = httpx.get(
            info["tenant_api_url"] + "/v1/plans",
            headers={"Authorization": f"Bearer {info['admin_token']}"},
        )
        assert {p["tier"] for p in plans.json()["data"]} >= {"free", "pro", "enterprise"}

        again = run_cli(env, "up", "--detach")
        assert again.returncode != 0
        assert "already up" in again.stderr
    finally:
        down = run_cli(env, "down")
    assert down.returncode == 0, down.stdout + down.stderr
    pids = list(info["pids"].values())
    pg_pid_file = Path(info["embedded_pg_dir"]) / "postmaster.pid"
    assert not any(_alive(pid) for pid in pids)
    assert not pg_pid_file.exists()
    assert not stack_file.exists()
    with_nothing = run_cli(env, "down")
    assert with_nothing.returncode == 0
    assert "Nothing was running" in with_nothing.stdout
