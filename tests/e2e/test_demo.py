"""`make demo` tells the whale story on a fresh stack and exits 0 only if it held."""

from __future__ import annotations

import subprocess
import sys

from tests.e2e.stackutil import ROOT


def test_demo_plays_the_whale_story() -> None:
    # The demo makes its own data directory and picks free ports.
    result = subprocess.run(
        [sys.executable, "-m", "saas_copilot.demo"],
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
