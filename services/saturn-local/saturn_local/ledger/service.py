"""``POST /v1/capabilities/reason``: validate, price, reserve, call the provider with no
connection held, settle or void exactly once (also on cancellation), answer with receipts."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import asyncpg

from copilot_kit.money import MICROS_PER_CENT
from saturn_local.agents.repository import AgentRow
from saturn_local.errors import (
    LedgerUnavailable,
    PolicyDenied,
    Unauthorized,
    UpstreamError,
    ValidationFailed,
)
from saturn_local.ids import new_id
from saturn_local.ledger.idempotency import IdempotencyStore, StoredResponse
from saturn_local.ledger.repository import Denial, Hold, HoldRequest, Ledger, Resolution
from saturn_local.pricing.service import Price, PriceBook
from saturn_local.providers.base import ChatMessage, Completion, Provider, ProviderError
from saturn_local.wire import MICROS_PER_SAT, iso

logger = logging.getLogger("saturn_local.reason")

MAX_TOKENS_LIMIT = 1_000_000
MAX_IDEMPOTENCY_KEY_LENGTH = 255
_ROLES = frozenset({"system", "user", "assistant"})
_DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)
# saturn-local additions to the receipt: the agent's day right after this call's settle.
SPENT_TODAY_HEADER = "X-Saturn-Spent-Today-Usd-Micros"
DAILY_CAP_HEADER = "X-Saturn-Daily-Cap-Usd-Micros"
_DAY_FIGURE_HEADERS = frozenset({SPENT_TODAY_HEADER, DAILY_CAP_HEADER})


@dataclass(frozen=True, slots=True)
class ReasonInput:
    messages: list[ChatMessage]
    model: str
    max_tokens: int | None
    temperature: float | None
    body_hash: str


def parse_reason_body(raw: bytes, *, default_model: str) -> ReasonInput:
    """The reason body as the real server's SDK sends it: ``prompt`` or ``messages``,
    ``model``, ``max_tokens`` (or the SDK's ``maxTokens``), ``temperature``."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed("Request body must be valid JSON") from exc
    if not isinstance(data, dict):
        raise ValidationFailed("Request body must be a JSON object")
    messages: list[ChatMessage] = []
    raw_messages = data.get("messages")
    if raw_messages is not None:
        if not isinstance(raw_messages, list) or not raw_messages:
            raise ValidationFailed("messages must be a non-empty array")
        for i, m in enumerate(raw_messages):
            if (
                not isinstance(m, dict)
                or m.get("role") not in _ROLES
                or not isinstance(m.get("content"), str)
            ):
                raise ValidationFailed(
                    f"messages[{i}] must be {{role: system|user|assistant, content: string}}"
                )
            messages.append(ChatMessage(role=m["role"], content=m["content"]))
        if not any(m.content.strip() for m in messages):
            raise ValidationFailed("messages must contain some text")
    else:
        prompt = data.get("prompt")
        if prompt is None:
            raise ValidationFailed("prompt or messages is required")
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValidationFailed("prompt must be a non-empty string")
        messages.append(ChatMessage(role="user", content=prompt))
    model = data.get("model")
    if model is None:
        model = default_model
    elif not isinstance(model, str) or not model:
        raise ValidationFailed("model must be a non-empty string")
    max_tokens = data.get("max_tokens", data.get("maxTokens"))
    if max_tokens is not None and (
        not isinstance(max_tokens, int)
        or isinstance(max_tokens, bool)
        or not 1 <= max_tokens <= MAX_TOKENS_LIMIT
    ):
        raise ValidationFailed(f"max_tokens must be an integer from 1 to {MAX_TOKENS_LIMIT}")
    temperature = data.get("temperature")
    if temperature is not None and (
        not isinstance(temperature, int | float)
        or isinstance(temperature, bool)
        or not 0 <= temperature <= 2
    ):
        raise ValidationFailed("temperature must be a number from 0 to 2")
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return ReasonInput(
        messages=messages,
        model=model,
        max_tokens=max_tokens,
        temperature=None if temperature is None else float(temperature),
        body_hash=hashlib.sha256(canonical.encode()).hexdigest(),
    )


@dataclass(frozen=True, slots=True)
class ReasonResponse:
    status: int
    body: bytes
    headers: dict[str, str]


def _cents(micros: int) -> str:
    return str(-(-micros // MICROS_PER_CENT))


def _sats(micros: int) -> str:
    return str(math.ceil(micros / MICROS_PER_SAT))


def denial_error(denial: Denial) -> PolicyDenied:
    if denial.reason == "kill_switch_active":
        return PolicyDenied(denial.reason)
    return PolicyDenied(
        denial.reason,
        details={
            "spentUsdMicros": denial.spent_usd_micros,
            "heldUsdMicros": denial.held_usd_micros,
            "capUsdMicros": denial.cap_usd_micros,
            "quoteUsdMicros": denial.quote_usd_micros,
            "resetsAt": iso(denial.resets_at),
        },
    )


class ReasonService:
    def __init__(
        self,
        *,
        ledger: Ledger,
        prices: PriceBook,
        provider: Provider,
        idempotency: IdempotencyStore,
        default_model: str,
        default_max_tokens: int,
        provider_timeout_seconds: float,
    ) -> None:
        self.ledger = ledger
        self.prices = prices
        self.provider = provider
        self.idempotency = idempotency
        self.default_model = default_model
        self.default_max_tokens = default_max_tokens
        self.provider_timeout = provider_timeout_seconds
        self._background: set[asyncio.Task[Any]] = set()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """A task that outlives the request's cancellation (kept referenced until done)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def drain(self) -> None:
        """Wait for in-flight settles/voids (at shutdown)."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def reason(
        self, agent: AgentRow, raw_body: bytes, idempotency_key: str | None
    ) -> ReasonResponse:
        req = parse_reason_body(raw_body, default_model=self.default_model)
        price = await self._price(req.model)
        if idempotency_key is None:
            return await self._run(agent, req, price, None)
        if not 1 <= len(idempotency_key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
            raise ValidationFailed(
                f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters"
            )
        try:
            stored = await self.idempotency.claim(agent.id, idempotency_key, req.body_hash)
        except _DB_ERRORS as exc:
            raise LedgerUnavailable("The ledger is unavailable; nothing was charged") from exc
        if stored is not None:
            # The day's figures of the first call would be stale now: a replay omits them.
            headers = {
                name: value
                for name, value in stored.headers.items()
                if name not in _DAY_FIGURE_HEADERS
            }
            headers["X-Saturn-Idempotent-Replay"] = "true"
            return ReasonResponse(status=stored.status, body=stored.body, headers=headers)
        completed = False
        try:
            response = await self._run(agent, req, price, idempotency_key)
            stored = StoredResponse(response.status, response.body, response.headers)
            try:
                await asyncio.shield(
                    self._spawn(self.idempotency.complete(agent.id, idempotency_key, stored))
                )
            except _DB_ERRORS:
                logger.warning("could not store an idempotent result; the key is released")
            else:
                completed = True
            return response
        finally:
            if not completed:
                # A failed or cancelled first attempt frees the key: a retry runs again.
                await self._quietly(
                    self._spawn(self.idempotency.release(agent.id, idempotency_key))
                )

    async def _price(self, model: str) -> Price:
        try:
            price = await self.prices.get(model)
        except _DB_ERRORS as exc:
            raise LedgerUnavailable("The ledger is unavailable; nothing was charged") from exc
        if price is None:
            raise ValidationFailed(f"Model '{model}' has no price on this server")
        if price.provider != self.provider.name:
            raise ValidationFailed(
                f"Model '{model}' is not served by this server's provider ({self.provider.name})"
            )
        return price

    async def _run(
        self, agent: AgentRow, req: ReasonInput, price: Price, idempotency_key: str | None
    ) -> ReasonResponse:
        max_tokens = min(req.max_tokens or self.default_max_tokens, price.max_output_tokens)
        input_tokens = self.provider.estimate_input_tokens(req.messages)
        hold_request = HoldRequest(
            receipt_id=new_id("aud"),
            agent_id=agent.id,
            hold_usd_micros=price.hold_micros(input_tokens, max_tokens),
            model=price.model,
            price_version=price.version,
            provider=self.provider.name,
            input_tokens=input_tokens,
            max_tokens=max_tokens,
            idempotency_key=idempotency_key,
        )
        hold = await self._reserve(hold_request)
        completion, resolution = await self._call_and_resolve(hold, req, price, max_tokens)
        return self._response(hold, completion, resolution)

    async def _reserve(self, req: HoldRequest) -> Hold:
        reserving: asyncio.Task[Hold | Denial | None] = self._spawn(self.ledger.reserve(req))
        try:
            result = await asyncio.shield(reserving)
        except asyncio.CancelledError:
            self._spawn(self._void_when_reserved(reserving, req.receipt_id))
            raise
        except _DB_ERRORS as exc:
            # The statement may have committed before the connection died: voiding by id
            # makes sure a hold exists only if the caller was told it does.
            await self._quietly(self._spawn(self.ledger.void(req.receipt_id, outcome="db_error")))
            raise LedgerUnavailable("The ledger is unavailable; nothing was charged") from exc
        if result is None:
            raise Unauthorized("Agent not found")
        if isinstance(result, Denial):
            raise denial_error(result)
        return result

    async def _call_and_resolve(
        self, hold: Hold, req: ReasonInput, price: Price, max_tokens: int
    ) -> tuple[Completion, Resolution]:
        resolving: asyncio.Task[Resolution | None] | None = None
        try:
            try:
                async with asyncio.timeout(self.provider_timeout):
                    completion = await self.provider.complete(
                        model=price.model,
                        messages=req.messages,
                        max_tokens=max_tokens,
                        temperature=req.temperature,
                    )
            except TimeoutError as exc:
                resolving = self._spawn(
                    self.ledger.void(hold.receipt_id, outcome="upstream_timeout")
                )
                raise UpstreamError("The model provider did not answer in time") from exc
            except ProviderError as exc:
                resolving = self._spawn(self.ledger.void(hold.receipt_id, outcome="upstream_error"))
                raise UpstreamError(f"The model provider failed: {exc}") from exc
            except asyncio.CancelledError:
                resolving = self._spawn(self._cancelled(hold))
                raise
            usage_missing = completion.input_tokens is None or completion.output_tokens is None
            if usage_missing:
                charge = hold.quoted_usd_micros
            else:
                charge = price.cost_micros(
                    completion.input_tokens or 0, completion.output_tokens or 0
                )
            resolving = self._spawn(
                self.ledger.settle(
                    hold.receipt_id,
                    charged_usd_micros=charge,
                    input_tokens=completion.input_tokens,
                    output_tokens=completion.output_tokens,
                    usage_missing=usage_missing,
                )
            )
            try:
                resolution = await asyncio.shield(resolving)
            except _DB_ERRORS as exc:
                raise LedgerUnavailable("The ledger could not record the call") from exc
            if resolution is None:
                # The sweeper voided this hold first (the call outlived its TTL).
                raise LedgerUnavailable("The hold for this call expired before it finished")
            return completion, resolution
        finally:
            if resolving is None:
                resolving = self._spawn(self.ledger.void(hold.receipt_id, outcome="internal_error"))
            await self._quietly(resolving)

    async def _void_when_reserved(
        self, reserving: asyncio.Task[Hold | Denial | None], receipt_id: str
    ) -> None:
        """The caller went away while its reserve ran: release the hold if one was taken."""
        try:
            result = await reserving
        except Exception:
            result = None
        if isinstance(result, Hold):
            await self.ledger.void(receipt_id, outcome="cancelled")

    async def _cancelled(self, hold: Hold) -> Resolution | None:
        if self.provider.bills_on_cancel:
            # The request already reached a paid provider: charge its worst case.
            return await self.ledger.settle(
                hold.receipt_id,
                charged_usd_micros=hold.quoted_usd_micros,
                input_tokens=None,
                output_tokens=None,
                usage_missing=True,
                outcome="cancelled",
            )
        return await self.ledger.void(hold.receipt_id, outcome="cancelled")

    async def _quietly(self, task: asyncio.Task[Any]) -> None:
        """Wait for a resolving task without letting its failure (or our own cancellation)
        mask the exception in flight; the sweeper voids whatever a failure leaves behind."""
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("could not record a call outcome; the sweeper will void it")

    def _response(
        self, hold: Hold, completion: Completion, resolution: Resolution
    ) -> ReasonResponse:
        output_tokens = completion.output_tokens or 0
        body = {
            "content": completion.content,
            "model": completion.model,
            "usage": {
                "inputTokens": completion.input_tokens or 0,
                "outputTokens": output_tokens,
                "totalTokens": (completion.input_tokens or 0) + output_tokens,
            },
        }
        quoted = resolution.quoted_usd_micros
        charged = resolution.charged_usd_micros
        headers = {
            "X-Saturn-Audit-Id": hold.receipt_id,
            "X-Saturn-Quoted-Usd-Cents": _cents(quoted),
            "X-Saturn-Charged-Usd-Cents": _cents(charged),
            "X-Saturn-Quoted-Sats": _sats(quoted),
            "X-Saturn-Charged-Sats": _sats(charged),
            # saturn-local has no wallet: the sats balance is always 0.
            "X-Saturn-Balance-After": "0",
            "X-Saturn-Capability": "reason",
            "X-Saturn-Provider": self.provider.name,
            "X-Saturn-Quoted-Usd-Micros": str(quoted),
            "X-Saturn-Charged-Usd-Micros": str(charged),
            SPENT_TODAY_HEADER: str(resolution.spent_usd_micros),
        }
        if resolution.cap_usd_micros is not None:
            headers[DAILY_CAP_HEADER] = str(resolution.cap_usd_micros)
        return ReasonResponse(
            status=200,
            body=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
            headers=headers,
        )
