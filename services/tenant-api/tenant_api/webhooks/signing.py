"""``X-Copilot-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``.

The HMAC key is the endpoint secret exactly as shown at creation (UTF-8 bytes).
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Copilot-Signature"
EVENT_ID_HEADER = "X-Copilot-Event-Id"
EVENT_TYPE_HEADER = "X-Copilot-Event-Type"


def signature(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return mac.hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    return f"t={timestamp},v1={signature(secret, body, timestamp)}"


def verify(
    secret: str, body: bytes, header: str, *, now: int, tolerance_seconds: int = 300
) -> bool:
    """What a receiver does: the header parses, is fresh, and one ``v1`` matches."""
    parts = [item.partition("=") for item in header.split(",")]
    stamps = [value for key, _, value in parts if key.strip() == "t"]
    candidates = [value.strip() for key, _, value in parts if key.strip() == "v1"]
    if len(stamps) != 1 or not stamps[0].strip().isdigit() or not candidates:
        return False
    timestamp = int(stamps[0])
    if abs(now - timestamp) > tolerance_seconds:
        return False
    expected = signature(secret, body, timestamp)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)
