"""``saas-copilot rotate-encryption-key``: re-encrypt every stored agent key under a new KEK."""

from __future__ import annotations

import asyncio
import os
import sys

from copilot_kit.crypto import Keyring
from copilot_kit.db import with_database
from copilot_kit.pg import start_embedded
from saas_copilot import stack as stack_mod
from saas_copilot.config import Paths, load_or_create_secrets, write_private_json


def _tenant_database_url(paths: Paths) -> str:
    explicit = os.environ.get("TENANT_API_DATABASE_URL")
    if explicit:
        return explicit
    server = os.environ.get("DATABASE_URL") or start_embedded(paths.pg_dir, keep_running=False)
    return with_database(server, "tenant_api")


def rotate(paths: Paths) -> int:
    from tenant_api.crypto_rotation import rotate_encryption_key

    existing = stack_mod.read_stack(paths)
    if existing and stack_mod.running_pids(existing):
        print(
            "saas-copilot rotate-encryption-key: the stack is up and its tenant-api holds the "
            "current keyring; run `saas-copilot down` first.",
            file=sys.stderr,
        )
        return 1

    managed = os.environ.get("COPILOT_ENCRYPTION_KEYS")
    if managed:
        # Operator-managed keyring: they put the new key first and keep the old ones until
        # this has run everywhere.
        keyring = Keyring.parse(managed)
        count = asyncio.run(rotate_encryption_key(_tenant_database_url(paths), keyring))
        print(f"Re-encrypted {count} agent keys under key id {keyring.active_kid}.")
        return 0

    secrets = load_or_create_secrets(paths)
    old = Keyring.parse(secrets["encryption_keys"])
    new_kid = f"k{len(old.keys) + 1}"
    while new_kid in old.keys:
        new_kid += "x"
    new_entry = Keyring.new_spec(new_kid)
    # Save the superset first: whatever happens next, every row still decrypts.
    secrets["encryption_keys"] = f"{new_entry},{secrets['encryption_keys']}"
    write_private_json(paths.secrets_file, secrets)
    keyring = Keyring.parse(secrets["encryption_keys"])
    count = asyncio.run(rotate_encryption_key(_tenant_database_url(paths), keyring))
    secrets["encryption_keys"] = new_entry
    write_private_json(paths.secrets_file, secrets)
    print(f"Re-encrypted {count} agent keys under the new key id {new_kid}; old keys retired.")
    return 0
