"""Saturn-style ids (``<prefix>_<ULID>``) and agent keys (``sk_agt_`` + 64 hex)."""

from __future__ import annotations

import hashlib
import secrets
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
KEY_PREFIX = "sk_agt_"


def ulid() -> str:
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def new_id(prefix: str) -> str:
    return f"{prefix}_{ulid()}"


def new_agent_key() -> str:
    return KEY_PREFIX + secrets.token_hex(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_key(key: str) -> bool:
    body = key[len(KEY_PREFIX) :]
    return (
        key.startswith(KEY_PREFIX)
        and len(body) == 64
        and all(c in "0123456789abcdef" for c in body)
    )
