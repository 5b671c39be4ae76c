"""Agent keys at rest: AES-GCM under the keyring, bound to the customer and purpose."""

from __future__ import annotations

from copilot_kit.crypto import Keyring

_PURPOSE = b"saturn-agent-key:"


def associated_data(customer_id: str) -> bytes:
    """Binds a ciphertext to one customer's row: copied to another row it fails."""
    return _PURPOSE + customer_id.encode()


def seal(keyring: Keyring, customer_id: str, api_key: str) -> tuple[bytes, str]:
    """The ciphertext and the id of the key that made it."""
    return keyring.encrypt(api_key.encode(), associated_data(customer_id)), keyring.active_kid


def open_(keyring: Keyring, customer_id: str, ciphertext: bytes) -> str:
    return keyring.decrypt(ciphertext, associated_data(customer_id)).decode()


def last4(api_key: str) -> str:
    return api_key[-4:]
