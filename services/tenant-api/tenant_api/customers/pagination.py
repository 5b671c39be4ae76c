"""Opaque, signed keyset cursors: a cursor we never issued is refused, not guessed at."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from copilot_kit.errors import InvalidRequest

_CONTEXT = b"tenant-api/customers-cursor/v1"


class InvalidCursor(InvalidRequest):
    code = "invalid_cursor"
    message = "The cursor is not one this API issued; start again without a cursor."

    def __init__(self) -> None:
        super().__init__(field="cursor")


@dataclass(frozen=True)
class Position:
    created_at: datetime
    id: str


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, _CONTEXT + b"." + payload, hashlib.sha256).digest()[:16]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def encode_cursor(position: Position, secret: bytes) -> str:
    payload = f"{position.created_at.isoformat()}|{position.id}".encode()
    return f"{_b64(payload)}.{_b64(_mac(secret, payload))}"


def decode_cursor(cursor: str, secret: bytes) -> Position:
    try:
        head, _, tail = cursor.partition(".")
        payload = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))
        mac = base64.urlsafe_b64decode(tail + "=" * (-len(tail) % 4))
    except ValueError as exc:
        raise InvalidCursor() from exc
    if not hmac.compare_digest(mac, _mac(secret, payload)):
        raise InvalidCursor()
    try:
        created, _, customer_id = payload.decode().partition("|")
        return Position(created_at=datetime.fromisoformat(created), id=customer_id)
    except ValueError as exc:
        raise InvalidCursor() from exc
