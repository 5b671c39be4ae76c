"""Envelope encryption: binding to associated data, tamper detection, key rotation."""

from __future__ import annotations

import base64

import pytest

from copilot_kit.crypto import DecryptionError, Keyring, generate_key

AAD = b"customer:cus_1:saturn_agent_key"
SECRET = b"sk_agt_" + b"f" * 64


@pytest.fixture
def ring() -> Keyring:
    return Keyring.parse(Keyring.new_spec("k1"))


def test_round_trip(ring: Keyring) -> None:
    blob = ring.encrypt(SECRET, AAD)
    assert SECRET not in blob
    assert ring.key_id_of(blob) == "k1"
    assert ring.decrypt(blob, AAD) == SECRET


def test_each_encryption_uses_a_fresh_nonce(ring: Keyring) -> None:
    assert ring.encrypt(SECRET, AAD) != ring.encrypt(SECRET, AAD)


def test_ciphertext_bound_to_other_associated_data_fails(ring: Keyring) -> None:
    blob = ring.encrypt(SECRET, AAD)
    with pytest.raises(DecryptionError):
        ring.decrypt(blob, b"customer:cus_2:saturn_agent_key")


@pytest.mark.parametrize("position", [-1, -20, 6])  # tag, ciphertext, nonce
def test_a_flipped_byte_fails(ring: Keyring, position: int) -> None:
    blob = bytearray(ring.encrypt(SECRET, AAD))
    blob[position] ^= 0x01
    with pytest.raises(DecryptionError):
        ring.decrypt(bytes(blob), AAD)


@pytest.mark.parametrize("blob", [b"", b"v2xxxxxxxxxxxxxxxxxxxxxxxx", b"v1\x02k1short"])
def test_garbage_fails_cleanly(ring: Keyring, blob: bytes) -> None:
    with pytest.raises(DecryptionError):
        ring.decrypt(blob, AAD)


def test_unknown_key_id_fails(ring: Keyring) -> None:
    other = Keyring.parse(Keyring.new_spec("k9"))
    with pytest.raises(DecryptionError, match="k9"):
        ring.decrypt(other.encrypt(SECRET, AAD), AAD)


def test_same_kid_with_another_key_fails(ring: Keyring) -> None:
    impostor = Keyring.parse(f"k1:{generate_key()}")
    with pytest.raises(DecryptionError):
        ring.decrypt(impostor.encrypt(SECRET, AAD), AAD)


def test_rotation_reencrypts_under_the_new_active_key() -> None:
    old_spec, new_spec = Keyring.new_spec("old"), Keyring.new_spec("new")
    old_ring = Keyring.parse(old_spec)
    rotated = Keyring.parse(f"{new_spec},{old_spec}")
    old_blob = old_ring.encrypt(SECRET, AAD)

    new_blob = rotated.reencrypt(old_blob, AAD)

    assert rotated.active_kid == "new"
    assert rotated.key_id_of(new_blob) == "new"
    assert rotated.decrypt(new_blob, AAD) == SECRET
    assert rotated.decrypt(old_blob, AAD) == SECRET
    with pytest.raises(DecryptionError):
        old_ring.decrypt(new_blob, AAD)
    # Once the old key is retired only re-encrypted rows still open.
    retired = Keyring.parse(new_spec)
    assert retired.decrypt(new_blob, AAD) == SECRET
    with pytest.raises(DecryptionError):
        retired.decrypt(old_blob, AAD)


def test_repr_shows_no_key_material() -> None:
    spec = Keyring.new_spec("k1")
    key_text = spec.partition(":")[2]
    ring = Keyring.parse(spec)
    raw = ring.keys["k1"]
    for text in (repr(ring), str(ring)):
        assert key_text not in text
        assert repr(raw) not in text
        assert base64.b64encode(raw).decode() not in text
        assert "k1" in text


@pytest.mark.parametrize(
    "spec",
    ["", " , ", "k1", f"k1:{base64.urlsafe_b64encode(b'short').decode()}", f":{generate_key()}"],
)
def test_bad_specs_are_refused(spec: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each spec fails with its own message
        Keyring.parse(spec)
