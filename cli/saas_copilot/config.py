"""Where the stack keeps its state, and the secrets it generates once per data directory."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from copilot_kit.crypto import Keyring


@dataclass(frozen=True)
class Paths:
    data_dir: Path
    run_dir: Path

    @property
    def pg_dir(self) -> Path:
        return self.data_dir / "pg"

    @property
    def secrets_file(self) -> Path:
        return self.data_dir / "secrets.json"

    @property
    def stack_file(self) -> Path:
        return self.run_dir / "stack.json"

    @property
    def log_dir(self) -> Path:
        return self.run_dir / "logs"

    @classmethod
    def from_env(cls) -> Paths:
        data = Path(os.environ.get("COPILOT_DATA_DIR", ".data")).resolve()
        run = Path(os.environ.get("COPILOT_RUN_DIR", ".run")).resolve()
        return cls(data_dir=data, run_dir=run)


def write_private_json(path: Path, data: dict[str, Any]) -> None:
    """Write JSON readable by the owner only (it holds secrets)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
    tmp.replace(path)


def load_or_create_secrets(paths: Paths) -> dict[str, str]:
    """Secrets generated on first ``up`` and kept with the data they protect.

    They must survive restarts: agent keys in the database are encrypted with
    ``encryption_keys`` and saturn-local only knows the hash of ``saturn_admin_key``.
    """
    existing: dict[str, str] = {}
    if paths.secrets_file.exists():
        existing = json.loads(paths.secrets_file.read_text())
    defaults = {
        "admin_token": "cadm_" + secrets.token_hex(24),
        "service_token": "csvc_" + secrets.token_hex(24),
        "token_secret": secrets.token_hex(32),
        "encryption_keys": Keyring.new_spec("k1"),
        "saturn_admin_key": "sk_agt_" + secrets.token_hex(32),
    }
    merged = {**defaults, **existing}
    if merged != existing:
        write_private_json(paths.secrets_file, merged)
    return merged
