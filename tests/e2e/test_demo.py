"""`make demo` tells the whale story on a fresh stack and exits 0 only if it held."""

from __future__ import annotations

import subprocess
import sys

from tests.e2e.stackutil import ROOT, stack_env


def test_demo_plays_the_whale_story(tmp_path: object) -> None:
    env = stack_env(ROOT / ".data" / "unused")  # the demo picks its own dirs and ports
    result = subprocess.run(
        [sys.executable, "-m", "saas_copilot.demo"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "FAIL" not in out
    assert "whale-corp" in out
    assert "Heavy users" in out
    assert "Margin" in out
