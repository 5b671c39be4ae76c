"""Secrets never reach a log line."""

from __future__ import annotations

import io
import logging

import pytest

from copilot_kit.logs import RedactingFilter, configure_logging, scrub

AGENT_KEY = "sk_agt_" + "0123456789abcdef" * 4
ACCESS_TOKEN = "cat_eyJzdWIiOiJjdXNfMSJ9.Zm9vYmFyYmF6-_x"
BEARER = "opaque.service-token_123"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"created agent with key {AGENT_KEY} ok", AGENT_KEY),
        (f"token={ACCESS_TOKEN}", ACCESS_TOKEN),
        (f"Authorization: Bearer {BEARER}", BEARER),
        (f"authorization: bearer {BEARER}", BEARER),
    ],
)
def test_scrub_removes_secrets(text: str, secret: str) -> None:
    cleaned = scrub(text)
    assert secret not in cleaned
    assert "***" in cleaned


def test_scrub_keeps_the_rest() -> None:
    assert scrub("Authorization: Bearer abc") == "Authorization: Bearer ***"
    assert scrub(f"key {AGENT_KEY} end") == "key *** end"
    assert scrub("nothing secret: cat_ sk_agt") == "nothing secret: cat_ sk_agt"


def test_filter_scrubs_formatted_args() -> None:
    record = logging.LogRecord(
        "t", logging.INFO, __file__, 1, "calling with %s and %s", (AGENT_KEY, BEARER), None
    )
    assert RedactingFilter().filter(record) is True
    assert AGENT_KEY not in record.getMessage()
    assert record.getMessage() == "calling with *** and opaque.service-token_123"


def test_configured_root_handler_scrubs() -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    try:
        configure_logging("debug")
        stream = io.StringIO()
        handler = root.handlers[0]
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(stream)
        logging.getLogger("copilot_test").debug("key %s header Bearer %s", AGENT_KEY, BEARER)
        output = stream.getvalue()
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    assert AGENT_KEY not in output
    assert BEARER not in output
    assert "key *** header Bearer ***" in output
