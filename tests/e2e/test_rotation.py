"""E2 end to end: `saas-copilot rotate-encryption-key` between two runs of the stack."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.client import StackClient
from tests.e2e.stackutil import run_cli, stack_env


def _up(env: dict[str, str]) -> dict[str, object]:
    up = run_cli(env, "up", "--detach")
    assert up.returncode == 0, up.stdout + up.stderr
    info: dict[str, object] = json.loads((Path(env["COPILOT_RUN_DIR"]) / "stack.json").read_text())
    return info


async def test_rotation_reencrypts_every_key_and_the_stack_still_serves(tmp_path: Path) -> None:
    env = stack_env(tmp_path)
    secrets_file = Path(env["COPILOT_DATA_DIR"]) / "secrets.json"
    client = StackClient(_up(env))
    try:
        customers = [await client.signup("free") for _ in range(3)]
        assert (await client.reason(customers[0], "before rotation")).status_code == 200
        refused = run_cli(env, "rotate-encryption-key")
        assert refused.returncode != 0
        assert "down" in refused.stderr
    finally:
        await client.aclose()
        assert run_cli(env, "down").returncode == 0

    old_keys = json.loads(secrets_file.read_text())["encryption_keys"]
    rotated = run_cli(env, "rotate-encryption-key")
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    assert "Re-encrypted 3 agent keys" in rotated.stdout
    new_keys = json.loads(secrets_file.read_text())["encryption_keys"]
    assert new_keys.split(":")[0] != old_keys.split(":")[0]
    assert "," not in new_keys  # the old key is retired

    client = StackClient(_up(env))
    try:
        for customer in customers:
            resp = await client.reason(customer, "after rotation")
            assert resp.status_code == 200, resp.text
    finally:
        await client.aclose()
        assert run_cli(env, "down").returncode == 0
