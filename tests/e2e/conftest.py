"""The running stack: real processes on real 127.0.0.1 ports, started by the real CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.stackutil import StackHandle, run_cli, stack_env


@pytest.fixture(scope="session")
def running_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    """One stack for the e2e session, started with `saas-copilot up --detach`."""
    env = stack_env(tmp_path_factory.mktemp("stack"))
    result = run_cli(env, "up", "--detach")
    assert result.returncode == 0, result.stdout + result.stderr
    info = json.loads((Path(env["COPILOT_RUN_DIR"]) / "stack.json").read_text())
    handle = StackHandle(info=info, env=env)
    yield handle
    down = run_cli(env, "down")
    assert down.returncode == 0, down.stdout + down.stderr
