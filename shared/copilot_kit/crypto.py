"""Envelope encryption for secrets that must be replayed (agent keys), with key rotation.

A ciphertext is ``b"v1" + kid_len(1) + kid + nonce(12) + AES-GCM(ct||tag)``. The key id
travels inside the ciphertext so a key-encryption key (KEK) can be rotated: decrypt with
the key named in the blob, encrypt with the keyring's active key. The associated data binds
a ciphertext to its owner and purpose, so a blob copied onto another row fails to decrypt.
KEKs come from settings (``kid:base64url(32 bytes)`` pairs), never from the database.
"""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"v1"
_NONCE_BYTES = 12


class DecryptionError(Exception):
    """The ciphertext is corrupt, bound to other associated data, or its key is unknown."""


def generate_key() -> str:
    """A new 256-bit KEK, base64url encoded."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


def _decode_key(text: str) -> bytes:
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if len(raw) != 32:
        raise ValueError("an encryption key must be 32 bytes (base64url)")
    return raw


@dataclass(frozen=True)
class Keyring:
    """KEKs by id; ``active_kid`` encrypts, every key decrypts."""

    keys: dict[str, bytes] = field(repr=False)
    active_kid: str

    def __post_init__(self) -> None:
        if self.active_kid not in self.keys:
            raise ValueError("the active key id is not in the keyring")
        for kid in self.keys:
            if not kid or len(kid.encode()) > 255 or not kid.isascii():
                raise ValueError("key ids are 1-255 ASCII characters")

    def __repr__(self) -> str:
        return f"Keyring(kids={sorted(self.keys)!r}, active_kid={self.active_kid!r})"

    @classmethod
    def parse(cls, spec: str) -> Keyring:
        """``"kid1:key1,kid2:key2"``; the first entry is the active key."""
        keys: dict[str, bytes] = {}
        order: list[str] = []
        for part in spec.split(","):
            part = part.strip()
            if not part:
                continue
            kid, sep, key = part.partition(":")
            if not sep:
                raise ValueError("keyring entries are 'kid:base64key'")
            keys[kid.strip()] = _decode_key(key.strip())
            order.append(kid.strip())
        if not order:
            raise ValueError("the keyring is empty")
        return cls(keys=keys, active_kid=order[0])

    @staticmethod
    def new_spec(kid: str | None = None) -> str:
        return f"{kid or 'k' + secrets.token_hex(4)}:{generate_key()}"

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> bytes:
        kid = self.active_kid.encode()
        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(self.keys[self.active_kid]).encrypt(nonce, plaintext, associated_data)
        return _VERSION + bytes([len(kid)]) + kid + nonce + sealed

    def key_id_of(self, blob: bytes) -> str:
        if blob[:2] != _VERSION or len(blob) < 3:
            raise DecryptionError("unknown ciphertext format")
        kid_len = blob[2]
        return blob[3 : 3 + kid_len].decode("ascii", errors="replace")

    def decrypt(self, blob: bytes, associated_data: bytes) -> bytes:
        kid = self.key_id_of(blob)
        key = self.keys.get(kid)
        if key is None:
            raise DecryptionError(f"no key with id {kid!r} in the keyring")
        start = 3 + len(kid.encode())
        nonce, sealed = blob[start : start + _NONCE_BYTES], blob[start + _NONCE_BYTES :]
        try:
            return AESGCM(key).decrypt(nonce, sealed, associated_data)
        except (InvalidTag, ValueError) as exc:
            raise DecryptionError("the ciphertext does not authenticate") from exc

    def reencrypt(self, blob: bytes, associated_data: bytes) -> bytes:
        """Decrypt with whichever key made ``blob``, encrypt with the active key."""
        return self.encrypt(self.decrypt(blob, associated_data), associated_data)
