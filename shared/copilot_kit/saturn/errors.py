"""Typed failures of a Saturn server (hosted, self-hosted, or saturn-local).

::

    SaturnError                      every failure; .status, .code, .message, .details
    ├── SaturnUnavailable            retryable: the server or its provider could not answer
    │   ├── SaturnTimeout            no answer within the timeout
    │   ├── SaturnConnectionError    could not connect / connection reset
    │   └── SaturnServerError        5xx (INTERNAL_ERROR, PROVIDER_UNAVAILABLE, ...)
    │       └── SaturnUpstreamError  502 UPSTREAM_ERROR / PROVIDER_ERROR: the model failed
    ├── SaturnRequestError           4xx: the request was refused; carries the envelope
    │   ├── SaturnValidationError    400 VALIDATION_ERROR
    │   ├── SaturnAuthError          401 UNAUTHORIZED (bad key, suspended or killed agent)
    │   ├── SaturnNotFound           404 NOT_FOUND
    │   ├── SaturnRateLimited        429 (.retry_after_seconds)
    │   ├── SaturnInsufficientBalance 402 INSUFFICIENT_BALANCE / CREDIT_EXHAUSTED
    │   ├── SaturnIdempotencyConflict 422 IDEMPOTENCY_KEY_REUSED (saturn-local)
    │   └── SaturnPolicyDenied       403 POLICY_DENIED (.reason), AGENT_KILLED, CAPABILITY_DENIED
    │       ├── SaturnKillSwitchActive   reason kill_switch_active / AGENT_KILLED
    │       └── SaturnBudgetExceeded     a spend cap refused the call (.spent/.cap/... if known)
    │           ├── SaturnDailyLimitExceeded    daily_limit_exceeded / BUDGET_EXCEEDED (402)
    │           └── SaturnPerCallLimitExceeded  per_call_limit_exceeded
    └── SaturnUnsupported            the server lacks an optional extension (e.g. usage)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class SaturnError(Exception):
    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "UNKNOWN",
        details: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.details = details

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(status={self.status!r}, code={self.code!r}, message={self.message!r})"


class SaturnUnavailable(SaturnError):
    """Transient: worth retrying for idempotent calls."""


class SaturnTimeout(SaturnUnavailable):
    pass


class SaturnConnectionError(SaturnUnavailable):
    pass


class SaturnServerError(SaturnUnavailable):
    pass


class SaturnUpstreamError(SaturnServerError):
    pass


class SaturnRequestError(SaturnError):
    pass


class SaturnValidationError(SaturnRequestError):
    pass


class SaturnAuthError(SaturnRequestError):
    pass


class SaturnNotFound(SaturnRequestError):
    pass


class SaturnRateLimited(SaturnRequestError):
    def __init__(
        self, message: str, *, retry_after_seconds: float | None = None, **kw: Any
    ) -> None:
        super().__init__(message, **kw)
        self.retry_after_seconds = retry_after_seconds


class SaturnInsufficientBalance(SaturnRequestError):
    pass


class SaturnIdempotencyConflict(SaturnRequestError):
    pass


class SaturnPolicyDenied(SaturnRequestError):
    def __init__(self, message: str, *, reason: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.reason = reason or message


class SaturnKillSwitchActive(SaturnPolicyDenied):
    pass


class SaturnBudgetExceeded(SaturnPolicyDenied):
    """A cap refused the call before any provider ran; nothing was charged.

    The figures are filled when the server sends them (saturn-local's ``details``, the
    documented ``BUDGET_EXCEEDED`` details); the real server sends none.
    """

    def __init__(
        self,
        message: str,
        *,
        spent_usd_micros: int | None = None,
        held_usd_micros: int | None = None,
        cap_usd_micros: int | None = None,
        quote_usd_micros: int | None = None,
        resets_at: datetime | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        self.spent_usd_micros = spent_usd_micros
        self.held_usd_micros = held_usd_micros
        self.cap_usd_micros = cap_usd_micros
        self.quote_usd_micros = quote_usd_micros
        self.resets_at = resets_at


class SaturnDailyLimitExceeded(SaturnBudgetExceeded):
    pass


class SaturnPerCallLimitExceeded(SaturnBudgetExceeded):
    pass


class SaturnUnsupported(SaturnError):
    """The server does not offer this optional extension (the real server has no usage route)."""
