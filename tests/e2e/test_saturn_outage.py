"""F5: Saturn dies → the gateway answers 503 ai_unavailable fast; service resumes after."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from tests.e2e.client import StackClient
from tests.e2e.stackutil import ROOT, StackHandle, run_cli, stack_env


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    env = stack_env(tmp_path_factory.mktemp("outage"))
    up = run_cli(env, "up", "--detach")
    assert up.returncode == 0, up.stdout + up.stderr
    info = json.loads((Path(env["COPILOT_RUN_DIR"]) / "stack.json").read_text())
    yield StackHandle(info=info, env=env)
    run_cli(env, "down")


def _start_saturn(info: dict[str, object], log: Path) -> subprocess.Popen[bytes]:
    port = urlparse(str(info["saturn_url"])).port
    env = {
        **os.environ,
        "SATURN_LOCAL_DATABASE_URL": str(info["saturn_database_url"]),
        "SATURN_LOCAL_BOOTSTRAP_KEY": str(info["saturn_admin_key"]),
    }
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "saturn_local.main:create_app",
             "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
            env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{info['saturn_url']}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("saturn-local did not come back")


async def test_saturn_killed_gives_503_then_service_resumes(
    own_stack: StackHandle, tmp_path: Path
) -> None:
    info = own_stack.info
    client = StackClient(info)
    restarted = None
    try:
        customer = await client.signup("free")
        assert (await client.reason(customer, "before the outage")).status_code == 200
        spent = await client.spent_today(customer)

        os.killpg(int(info["pids"]["saturn-local"]), signal.SIGKILL)
        # The client's own timeout (60 s) is far above the gateway's bound: an answer
        # at all, and a 503, proves the gateway gave up by itself rather than hanging.
        for _ in range(3):
            resp = await client.reason(customer, "during the outage")
            assert resp.status_code == 503, resp.text
            assert resp.json()["error"]["code"] == "ai_unavailable"

        restarted = _start_saturn(info, tmp_path / "saturn.log")
        resumed = await client.reason(customer, "after the outage")
        assert resumed.status_code == 200, resumed.text
        assert await client.spent_today(customer) == spent + resumed.json()["cost_usd_micros"]
    finally:
        await client.aclose()
        if restarted is not None:
            os.killpg(restarted.pid, signal.SIGTERM)
            restarted.wait(timeout=20)
