"""Errors shared by several tenant-api domains."""

from __future__ import annotations

import logging

from copilot_kit.errors import ServiceUnavailable
from copilot_kit.saturn.errors import SaturnError, SaturnUnavailable

logger = logging.getLogger("tenant_api.saturn")


class SaturnFailure(ServiceUnavailable):
    """Saturn could not do its part; nothing was changed on our side."""

    code = "saturn_unavailable"
    message = "The AI spend service (Saturn) is unavailable; nothing was changed. Try again."


def saturn_failure(exc: SaturnError, action: str) -> SaturnFailure:
    """The 503 to raise (``from exc``) when a Saturn call needed by ``action`` failed."""
    logger.warning(
        "saturn failed during %s: %s status=%s code=%s",
        action,
        type(exc).__name__,
        exc.status,
        exc.code,
    )
    if isinstance(exc, SaturnUnavailable):
        return SaturnFailure(
            f"Saturn is unavailable, so the {action} did not happen; nothing was changed. "
            "Try again shortly."
        )
    return SaturnFailure(
        f"Saturn refused the {action} ({exc.code}); nothing was changed.",
        code="saturn_refused",
        saturn_code=exc.code,
    )
