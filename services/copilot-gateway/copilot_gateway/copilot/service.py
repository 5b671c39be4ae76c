"""The copilot call: resolve the customer's agent, call Saturn with that agent's key, and turn
every Saturn outcome into the contract's answer. Every outcome is also queued as a usage event.
"""

from __future__ import annotations

import logging
import math
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from copilot_gateway.clients.tenant_api import (
    AgentCredentials,
    CustomerUsage,
    TenantApiClient,
    TenantApiNotFound,
    TenantApiRequestError,
    TenantApiUnavailable,
    UsageEvent,
    UsageOutcome,
)
from copilot_gateway.copilot.burst import BurstAllowance
from copilot_gateway.copilot.schemas import Budget, ReasonCreate, ReasonRead, TokenUsage
from copilot_gateway.copilot.spend import SpendTracker
from copilot_gateway.resolution.service import (
    AgentResolver,
    AiUnavailable,
    CustomerInactive,
    UnknownCustomer,
)
from copilot_gateway.usage.recorder import UsageRecorder
from copilot_kit.errors import AppError, InvalidRequest, ServiceUnavailable
from copilot_kit.money import MICROS_PER_CENT, micros_to_cents_floor
from copilot_kit.saturn.client import SaturnClient
from copilot_kit.saturn.errors import (
    SaturnAuthError,
    SaturnBudgetExceeded,
    SaturnError,
    SaturnIdempotencyConflict,
    SaturnInsufficientBalance,
    SaturnKillSwitchActive,
    SaturnNotFound,
    SaturnPerCallLimitExceeded,
    SaturnPolicyDenied,
    SaturnRateLimited,
    SaturnValidationError,
)
from copilot_kit.saturn.models import Message, ReasonRequest, ReasonResult

logger = logging.getLogger("copilot_gateway.copilot")


class DailyLimitReached(AppError):
    status_code = 429
    type = "limit_reached"
    code = "daily_limit_reached"
    message = "Daily AI limit reached. Resets at midnight UTC."


class PerCallLimitExceeded(AppError):
    status_code = 402
    type = "limit_reached"
    code = "per_call_limit_exceeded"
    message = (
        "This request would cost more than your plan allows for a single call. "
        "Send a shorter request or fewer output tokens, or upgrade your plan."
    )


class CreditsExhausted(AppError):
    status_code = 402
    type = "provider_error"
    code = "credits_exhausted"
    message = (
        "The AI provider account of this service has run out of credits. This is not a limit "
        "of your plan and nothing was charged; the service operator must top up the account."
    )


class IdempotencyKeyReused(AppError):
    status_code = 422
    type = "invalid_request"
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was already used with a different request body."


class AiRequestRefused(AppError):
    status_code = 403
    type = "permission_error"
    code = "ai_request_refused"
    message = "The AI service refused this request under this customer's policy."


def next_utc_midnight(now: datetime) -> datetime:
    return datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class CopilotService:
    def __init__(
        self,
        *,
        saturn: SaturnClient,
        tenant_api: TenantApiClient,
        resolver: AgentResolver,
        recorder: UsageRecorder,
        spend: SpendTracker,
        burst: BurstAllowance,
        default_max_output_tokens: int,
        max_output_tokens: int,
    ) -> None:
        self._saturn = saturn
        self._tenant_api = tenant_api
        self._resolver = resolver
        self._recorder = recorder
        self._spend = spend
        self._burst = burst
        self._default_max_tokens = default_max_output_tokens
        self._max_tokens = max_output_tokens

    async def reason(
        self, customer_id: str, body: ReasonCreate, *, idempotency_key: str | None
    ) -> ReasonRead:
        """One copilot call on the customer's own agent.

        Idempotency keys go to Saturn unchanged: keys are scoped per agent there and every
        customer has an agent of their own, so two customers' equal keys never meet.

        A refusal for the daily cap asks for the customer's burst allowance; if granted, the
        call is retried once, with the SAME idempotency key: Saturn keeps no result for a
        refused key (saturn-local frees it; the real server has no keys), so the retry's
        success is what a client's later retry of that key replays, charged once. A derived
        key would run, and charge, that later retry a second time.
        """
        credentials = await self._resolver.resolve(customer_id)
        assert credentials.agent_api_key is not None  # resolve() refuses customers without one
        request = self._saturn_request(body)
        try:
            result = await self._saturn.reason(
                request, api_key=credentials.agent_api_key, idempotency_key=idempotency_key
            )
        except SaturnError as exc:
            if not isinstance(exc, SaturnBudgetExceeded) or isinstance(
                exc, SaturnPerCallLimitExceeded
            ):
                raise self._refusal(credentials, body, exc) from exc
            raised = await self._burst.after_daily_limit(
                credentials, refused_at_cap_usd_micros=exc.cap_usd_micros
            )
            if raised is None:
                raise self._refusal(credentials, body, exc) from exc
            try:
                result = await self._saturn.reason(
                    request, api_key=credentials.agent_api_key, idempotency_key=idempotency_key
                )
            except SaturnError as retry_exc:
                # Refused again: the 429 with the fresher figures. Anything else: the original
                # refusal stands (a failed retry never turns a 429 into another error).
                final = retry_exc if _is_daily_limit(retry_exc) else exc
                if final is exc:
                    logger.warning("burst retry for %s failed: %r", customer_id, retry_exc)
                raise self._refusal(credentials, body, final) from final
        return self._success(credentials, result)

    async def usage(self, customer_id: str) -> CustomerUsage:
        await self._resolver.resolve(customer_id)
        try:
            return await self._tenant_api.get_usage(customer_id)
        except TenantApiNotFound as exc:
            raise UnknownCustomer() from exc
        except (TenantApiUnavailable, TenantApiRequestError) as exc:
            logger.warning("usage for %s unavailable: %s", customer_id, exc.message)
            raise ServiceUnavailable(
                "Usage figures are temporarily unavailable. Try again shortly."
            ) from exc

    def _saturn_request(self, body: ReasonCreate) -> ReasonRequest:
        max_tokens = min(body.max_output_tokens or self._default_max_tokens, self._max_tokens)
        # model_construct: the body is already validated, and a prompt may be megabytes.
        messages = (
            None
            if body.messages is None
            else [
                Message.model_construct(role=m.role.value, content=m.content) for m in body.messages
            ]
        )
        return ReasonRequest.model_construct(
            prompt=body.prompt, messages=messages, model=body.model, max_tokens=max_tokens
        )

    def _success(self, credentials: AgentCredentials, result: ReasonResult) -> ReasonRead:
        now = datetime.now(UTC)
        today = now.date()
        receipt = result.receipt
        cost = receipt.cost_usd_micros
        # saturn-local's figures for the day right after this call; never a replay's.
        exact = None if receipt.idempotent_replay else receipt.spent_today_usd_micros
        if exact is not None and exact >= 0:
            self._spend.set_exact(credentials.customer_id, today, exact)
            spent = exact
            cap_micros = receipt.daily_cap_usd_micros
        else:
            # A replay was counted when it first ran; the event id (the audit id) dedupes it.
            spent = self._spend.add_cost(
                credentials.customer_id, today, 0 if receipt.idempotent_replay else cost
            )
            cap_micros = None
        if cap_micros is not None and cap_micros >= 0:
            cap_cents = micros_to_cents_floor(cap_micros)
        else:
            cap_cents = self._fallback_cap(credentials)
            cap_micros = cap_cents * MICROS_PER_CENT
        request_id = receipt.audit_id or _new_id()
        self._recorder.record(
            UsageEvent(
                id=request_id,
                customer_id=credentials.customer_id,
                outcome=UsageOutcome.OK,
                cost_usd_micros=cost,
                input_tokens=result.usage.input_tokens,
                output_tokens=result.usage.output_tokens,
                model=result.model,
            )
        )
        return ReasonRead(
            id=request_id,
            response=result.content,
            model=result.model,
            usage=TokenUsage(
                input_tokens=result.usage.input_tokens, output_tokens=result.usage.output_tokens
            ),
            cost_usd_micros=cost,
            budget=Budget(
                spent_today_usd_micros=spent,
                daily_cap_usd_cents=cap_cents,
                remaining_usd_micros=max(0, cap_micros - spent),
                resets_at=next_utc_midnight(now),
            ),
        )

    def _refusal(
        self, credentials: AgentCredentials, body: ReasonCreate, exc: SaturnError
    ) -> AppError:
        """The customer-facing error for a Saturn failure; records the outcome."""
        customer_id = credentials.customer_id
        outcome = UsageOutcome.ERROR
        error: AppError
        if isinstance(exc, SaturnPerCallLimitExceeded):
            outcome = UsageOutcome.PER_CALL_LIMIT
            error = self._per_call_limit(credentials, exc)
        elif isinstance(exc, SaturnBudgetExceeded):
            # Every daily form: POLICY_DENIED daily_limit_exceeded, BUDGET_EXCEEDED, details.
            outcome = UsageOutcome.DAILY_LIMIT
            error = self._daily_limit(credentials, exc)
        elif isinstance(exc, SaturnInsufficientBalance):
            logger.error("Saturn account out of credits (customer %s): %r", customer_id, exc)
            error = CreditsExhausted()
        elif isinstance(exc, SaturnKillSwitchActive | SaturnAuthError) or (
            isinstance(exc, SaturnPolicyDenied) and exc.reason == "agent_not_active"
        ):
            # Suspended, killed or re-keyed: look the customer up afresh next time.
            self._resolver.invalidate(customer_id)
            logger.info("Saturn refused the agent of customer %s: %r", customer_id, exc)
            error = CustomerInactive()
        elif isinstance(exc, SaturnIdempotencyConflict):
            error = IdempotencyKeyReused()
        elif isinstance(exc, SaturnValidationError | SaturnNotFound):
            error = InvalidRequest(
                f"The AI service refused the request: {exc.message}", code="ai_request_invalid"
            )
        elif isinstance(exc, SaturnPolicyDenied):
            error = AiRequestRefused(reason=exc.reason)
        else:
            headers: dict[str, str] = {}
            if isinstance(exc, SaturnRateLimited) and exc.retry_after_seconds is not None:
                headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_seconds)))
            logger.warning("Saturn unavailable for customer %s: %r", customer_id, exc)
            error = AiUnavailable(headers=headers)
        self._recorder.record(
            UsageEvent(
                id=_new_id(),
                customer_id=customer_id,
                outcome=outcome,
                model=body.model,
            )
        )
        return error

    def _daily_limit(
        self, credentials: AgentCredentials, exc: SaturnBudgetExceeded
    ) -> DailyLimitReached:
        now = datetime.now(UTC)
        resets_at = exc.resets_at if exc.resets_at and exc.resets_at > now else None
        resets_at = resets_at or next_utc_midnight(now)
        today = now.date()
        # The cap Saturn refused at (a burst- or rollover-raised one too) when it says.
        cap_cents = (
            micros_to_cents_floor(exc.cap_usd_micros)
            if exc.cap_usd_micros is not None
            else self._fallback_cap(credentials)
        )
        spent = self._spent_at_denial(credentials.customer_id, today, exc, cap_cents)
        retry_after = max(1, math.ceil((resets_at - now).total_seconds()))
        return DailyLimitReached(
            headers={"Retry-After": str(retry_after)},
            resets_at=iso_utc(resets_at),
            upgrade_url=credentials.upgrade_url,
            plan=credentials.plan,
            daily_cap_usd_cents=cap_cents,
            spent_today_usd_micros=spent,
        )

    def _fallback_cap(self, credentials: AgentCredentials) -> int:
        """Today's cap when Saturn does not say: a burst this replica saw granted, else the
        plan's cap from the (short-lived) resolution."""
        raised = self._burst.raised_cap(credentials)
        return credentials.daily_cap_usd_cents if raised is None else raised

    def _spent_at_denial(
        self, customer_id: str, today: date, exc: SaturnBudgetExceeded, cap_cents: int
    ) -> int:
        if exc.spent_usd_micros is not None:
            self._spend.set_exact(customer_id, today, exc.spent_usd_micros)
            return exc.spent_usd_micros
        # The real server sends no figures: our own estimate, else the cap it just hit.
        known = self._spend.known(customer_id, today)
        return known if known is not None else cap_cents * MICROS_PER_CENT

    def _per_call_limit(
        self, credentials: AgentCredentials, exc: SaturnBudgetExceeded
    ) -> PerCallLimitExceeded:
        cap_cents = credentials.per_call_cap_usd_cents
        if exc.cap_usd_micros is not None:
            cap_cents = micros_to_cents_floor(exc.cap_usd_micros)
        extra: dict[str, Any] = {
            "upgrade_url": credentials.upgrade_url,
            "plan": credentials.plan,
            "per_call_cap_usd_cents": cap_cents,
        }
        if exc.quote_usd_micros is not None:
            extra["quoted_usd_micros"] = exc.quote_usd_micros
        return PerCallLimitExceeded(**extra)


def _is_daily_limit(exc: SaturnError) -> bool:
    # Every daily form: POLICY_DENIED daily_limit_exceeded, BUDGET_EXCEEDED, with or without
    # details; the per-call cap is the other budget refusal.
    return isinstance(exc, SaturnBudgetExceeded) and not isinstance(exc, SaturnPerCallLimitExceeded)


def _new_id() -> str:
    return f"req_{uuid.uuid4().hex}"
