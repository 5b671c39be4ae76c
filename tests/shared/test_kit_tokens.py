"""Signed expiring bearer tokens."""

from __future__ import annotations

import base64
import json

import pytest

from copilot_kit.tokens import InvalidToken, hash_secret, issue_token, verify_token

SECRET = b"s" * 32
NOW = 1_800_000_000.0


def issue(ttl: int = 600, subject: str = "cus_1") -> str:
    token, _ = issue_token(secret=SECRET, prefix="cat", subject=subject, ttl_seconds=ttl, now=NOW)
    return token


def test_round_trip() -> None:
    token, claims = issue_token(
        secret=SECRET, prefix="cat", subject="cus_1", ttl_seconds=600, now=NOW
    )
    assert token.startswith("cat_")
    verified = verify_token(token, secret=SECRET, prefix="cat", now=NOW + 599)
    assert verified == claims
    assert (verified.sub, verified.exp) == ("cus_1", int(NOW) + 600)


def test_tokens_are_unique() -> None:
    assert issue() != issue()


def test_tampered_payload_fails() -> None:
    token = issue()
    payload, _, signature = token.removeprefix("cat_").partition(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "cus_2"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    with pytest.raises(InvalidToken, match="signature"):
        verify_token(f"cat_{forged}.{signature}", secret=SECRET, prefix="cat", now=NOW)


def test_tampered_signature_fails() -> None:
    token = issue()
    last = "A" if token[-1] != "A" else "B"
    with pytest.raises(InvalidToken):
        verify_token(token[:-1] + last, secret=SECRET, prefix="cat", now=NOW)


@pytest.mark.parametrize("bad", ["", "cat_", "cat_abc", "cat_.sig", "cat_abc.", "nonsense"])
def test_malformed_fails(bad: str) -> None:
    with pytest.raises(InvalidToken):
        verify_token(bad, secret=SECRET, prefix="cat", now=NOW)


def test_wrong_prefix_fails() -> None:
    token, _ = issue_token(secret=SECRET, prefix="svc", subject="x", ttl_seconds=60, now=NOW)
    with pytest.raises(InvalidToken, match="type"):
        verify_token(token, secret=SECRET, prefix="cat", now=NOW)
    # Relabelling the prefix breaks the signature, which covers it.
    with pytest.raises(InvalidToken, match="signature"):
        verify_token("cat_" + token.removeprefix("svc_"), secret=SECRET, prefix="cat", now=NOW)


def test_expired_fails() -> None:
    token = issue(ttl=60)
    verify_token(token, secret=SECRET, prefix="cat", now=NOW + 59)
    with pytest.raises(InvalidToken, match="expired"):
        verify_token(token, secret=SECRET, prefix="cat", now=NOW + 60)


def test_wrong_secret_fails() -> None:
    with pytest.raises(InvalidToken):
        verify_token(issue(), secret=b"t" * 32, prefix="cat", now=NOW)


def test_hash_secret_is_stable_and_hides_the_value() -> None:
    token = issue()
    digest = hash_secret(token)
    assert digest == hash_secret(token)
    assert digest != hash_secret(issue())
    assert len(digest) == 64
    assert token not in digest
