"""Customer lifecycle: signup, plan/name/seat changes, churn, access tokens, resolution.

Signup, plan change and churn each need Saturn and the database. No transaction is open
while Saturn is called; each step commits on its own, ordered so that a failure at any point
leaves no customer shown as active with a missing or wrong agent:

- signup: (1) commit the customer as ``pending`` under a short lease; (2) at Saturn, reuse
  the agent named ``customer-{external_id}`` left by an earlier failed attempt (new key) or
  create it, and set its caps with a policy PATCH; (3) encrypt the key, commit ``active``.
  A retry of the same request repeats (2)-(3) and finds the agent by name, so none leaks.
- plan change: Saturn's policy first, then the row (only if it did not change meanwhile);
  if the write fails, the agent's previous caps are restored (best effort).
- churn: suspend the agent at Saturn, then destroy the stored key and mark ``churned``.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from copilot_kit.crypto import DecryptionError
from copilot_kit.errors import Conflict, NotFound, ServiceUnavailable
from copilot_kit.saturn.errors import SaturnError, SaturnNotFound
from copilot_kit.saturn.models import AgentStatus
from copilot_kit.tokens import hash_secret, issue_token
from tenant_api.auth import CUSTOMER_TOKEN_PREFIX
from tenant_api.context import AppContext
from tenant_api.customers import agent_keys, repository
from tenant_api.customers.pagination import Position, decode_cursor, encode_cursor
from tenant_api.customers.schemas import (
    AccessTokenCreate,
    AccessTokenRead,
    AgentResolution,
    CustomerCreate,
    CustomerStatusOut,
    CustomerUpdate,
)
from tenant_api.errors import saturn_failure
from tenant_api.models import Customer, CustomerStatus, Plan
from tenant_api.plans.repository import get_plan
from tenant_api.plans.service import UnknownPlan

logger = logging.getLogger("tenant_api.customers")

# Longer than the worst case of one signup's Saturn calls (several timeouts with retries).
SIGNUP_LEASE = timedelta(seconds=120)


class CustomerNotFound(NotFound):
    code = "customer_not_found"

    def __init__(self, customer_id: str) -> None:
        super().__init__(f"There is no customer '{customer_id}'.", customer_id=customer_id)


class SignupConflict(Conflict):
    code = "customer_conflict"


class SignupInProgress(Conflict):
    code = "signup_in_progress"
    message = "A signup for this customer is in progress; retry in a few seconds."


class CustomerInactive(Conflict):
    code = "customer_inactive"


class ConcurrentChange(Conflict):
    code = "concurrent_change"
    message = "The customer changed while this request ran; nothing was changed. Retry."


class AgentKeyUnreadable(ServiceUnavailable):
    code = "agent_key_unreadable"
    message = "This customer's stored agent key cannot be decrypted."


def new_customer_id() -> str:
    return "cus_" + secrets.token_hex(12)


def agent_name_for(external_id: str) -> str:
    return f"customer-{external_id}"


class CustomerService:
    def __init__(self, context: AppContext) -> None:
        self._context = context
        self._saturn = context.saturn
        self._sessionmaker = context.sessionmaker

    # -- reads ---------------------------------------------------------------------------

    async def get(self, session: AsyncSession, customer_id: str) -> Customer:
        customer = await repository.get(session, customer_id)
        if customer is None:
            raise CustomerNotFound(customer_id)
        return customer

    async def list(
        self,
        session: AsyncSession,
        *,
        plan: str | None,
        status: CustomerStatusOut | None,
        external_id: str | None,
        limit: int,
        cursor: str | None,
    ) -> tuple[Sequence[Customer], str | None]:
        secret = self._context.token_secret
        after = decode_cursor(cursor, secret) if cursor is not None else None
        rows = await repository.list_page(
            session,
            plan=plan,
            status=status.value if status is not None else None,
            external_id=external_id,
            after=after,
            limit=limit + 1,
        )
        page, more = rows[:limit], len(rows) > limit
        next_cursor = (
            encode_cursor(Position(page[-1].created_at, page[-1].id), secret) if more else None
        )
        return page, next_cursor

    # -- signup --------------------------------------------------------------------------

    async def signup(self, data: CustomerCreate) -> tuple[Customer, bool]:
        """Create (or finish creating) the customer; returns it and whether this call
        made it active. Idempotent for the same request."""
        customer, plan, done = await self._begin_signup(data)
        if done:
            return customer, False
        try:
            agent_id, api_key = await self._provision_agent(customer, plan)
        except SaturnError as exc:
            await self._release_signup(customer.id)
            raise saturn_failure(exc, "signup") from exc
        except BaseException:
            await self._release_signup(customer.id)
            raise
        ciphertext, kid = agent_keys.seal(self._context.keyring, customer.id, api_key)
        async with self._sessionmaker() as session, session.begin():
            activated = await repository.update_where(
                session,
                customer.id,
                [Customer.status == CustomerStatus.PENDING],
                status=CustomerStatus.ACTIVE.value,
                agent_id=agent_id,
                agent_key_ciphertext=ciphertext,
                agent_key_kid=kid,
                agent_key_last4=agent_keys.last4(api_key),
                daily_cap_usd_cents=plan.daily_cap_usd_cents,
                per_call_cap_usd_cents=plan.per_call_cap_usd_cents,
                signup_lease_until=None,
            )
            if activated is None:
                current = await repository.get(session, customer.id)
        if activated is None:
            # Churned while we were at Saturn: the agent we just keyed must not stay usable.
            await self._suspend_quietly(agent_id)
            status = current.status if current is not None else "deleted"
            raise SignupConflict(
                f"The customer became '{status}' while the signup ran.", customer_id=customer.id
            )
        logger.info("customer %s active with agent %s", activated.id, agent_id)
        return activated, True

    async def _begin_signup(self, data: CustomerCreate) -> tuple[Customer, Plan, bool]:
        """Step 1: the pending row with this attempt's lease, or the finished customer."""
        for _ in range(2):
            try:
                async with self._sessionmaker() as session, session.begin():
                    plan = await get_plan(session, data.plan)
                    if plan is None:
                        raise UnknownPlan(data.plan)
                    existing = await repository.get_by_external_id(session, data.external_id)
                    if existing is None:
                        customer = Customer(
                            id=new_customer_id(),
                            external_id=data.external_id,
                            name=data.name,
                            plan_tier=plan.tier,
                            seats=data.seats,
                            status=CustomerStatus.PENDING.value,
                            agent_name=agent_name_for(data.external_id),
                            daily_cap_usd_cents=plan.daily_cap_usd_cents,
                            per_call_cap_usd_cents=plan.per_call_cap_usd_cents,
                        )
                        session.add(customer)
                        await session.flush()
                        claimed = await repository.claim_signup(session, customer.id, SIGNUP_LEASE)
                        assert claimed is not None
                        return claimed, plan, False
                    _check_same_request(existing, data)
                    if existing.status != CustomerStatus.PENDING:
                        return existing, plan, True
                    claimed = await repository.claim_signup(session, existing.id, SIGNUP_LEASE)
                    if claimed is None:
                        raise SignupInProgress(customer_id=existing.id)
                    return claimed, plan, False
            except IntegrityError:
                # Another request inserted the same external_id first: judge against it.
                continue
        raise SignupInProgress()

    async def _provision_agent(self, customer: Customer, plan: Plan) -> tuple[str, str]:
        """Step 2 at Saturn: the capped agent and a fresh key for it."""
        saturn = self._saturn
        caps = {
            "max_per_call_usd_cents": plan.per_call_cap_usd_cents,
            "max_per_day_usd_cents": plan.daily_cap_usd_cents,
        }
        orphan = await saturn.find_agent_by_name(customer.agent_name)
        if orphan is None:
            created = await saturn.create_agent(
                customer.agent_name,
                metadata={"customer_id": customer.id, "external_id": customer.external_id},
            )
            await saturn.set_caps(created.id, **caps)
            return created.id, created.api_key.get_secret_value()
        logger.info("signup of %s reuses agent %s", customer.id, orphan.id)
        # Caps before the new key, so the reused agent never has a live uncapped key.
        await saturn.set_caps(orphan.id, **caps)
        if orphan.status is AgentStatus.SUSPENDED:
            await saturn.activate_agent(orphan.id)
        keyed = await saturn.regenerate_key(orphan.id)
        return orphan.id, keyed.api_key.get_secret_value()

    async def _release_signup(self, customer_id: str) -> None:
        try:
            async with self._sessionmaker() as session, session.begin():
                await repository.release_signup(session, customer_id)
        except Exception:
            # The lease expires by itself; a retry then proceeds.
            logger.warning("could not release the signup lease of %s", customer_id)

    async def _suspend_quietly(self, agent_id: str) -> None:
        try:
            await self._saturn.suspend_agent(agent_id)
        except SaturnError:
            logger.error("could not suspend agent %s of a churned signup", agent_id)

    # -- changes -------------------------------------------------------------------------

    async def update(self, customer_id: str, data: CustomerUpdate) -> Customer:
        """Name/seat changes are plain writes; a plan change reaches Saturn first."""
        fields = data.model_dump(exclude_unset=True)
        async with self._sessionmaker() as session, session.begin():
            customer = await self.get(session, customer_id)
            if customer.status == CustomerStatus.PENDING:
                raise CustomerInactive(
                    "The customer's signup has not finished; retry the signup first.",
                    customer_id=customer_id,
                    status=customer.status,
                )
            new_tier = fields.pop("plan", None)
            plan = None
            if new_tier is not None and new_tier != customer.plan_tier:
                plan = await get_plan(session, new_tier)
                if plan is None:
                    raise UnknownPlan(new_tier)
                if customer.status != CustomerStatus.ACTIVE:
                    raise CustomerInactive(
                        "A churned customer's plan cannot change.",
                        customer_id=customer_id,
                        status=customer.status,
                    )
            if plan is None:
                for key, value in fields.items():
                    setattr(customer, key, value)
                await session.flush()
                return customer
        assert customer.agent_id is not None
        return await self._change_plan(customer, plan, fields)

    async def _change_plan(
        self, customer: Customer, plan: Plan, fields: dict[str, object]
    ) -> Customer:
        agent_id = customer.agent_id
        assert agent_id is not None
        try:
            await self._saturn.set_caps(
                agent_id,
                max_per_call_usd_cents=plan.per_call_cap_usd_cents,
                max_per_day_usd_cents=plan.daily_cap_usd_cents,
            )
        except SaturnError as exc:
            raise saturn_failure(exc, "plan change") from exc
        try:
            async with self._sessionmaker() as session, session.begin():
                updated = await repository.update_where(
                    session,
                    customer.id,
                    [
                        Customer.status == CustomerStatus.ACTIVE,
                        Customer.plan_tier == customer.plan_tier,
                        Customer.agent_id == agent_id,
                    ],
                    plan_tier=plan.tier,
                    daily_cap_usd_cents=plan.daily_cap_usd_cents,
                    per_call_cap_usd_cents=plan.per_call_cap_usd_cents,
                    **fields,
                )
        except BaseException:
            await self._restore_caps(customer)
            raise
        if updated is None:
            await self._restore_caps(customer)
            raise ConcurrentChange(customer_id=customer.id)
        logger.info("customer %s moved to plan %s", customer.id, plan.tier)
        return updated

    async def _restore_caps(self, customer: Customer) -> None:
        """Best effort: put back the caps the row still records."""
        assert customer.agent_id is not None
        try:
            await self._saturn.set_caps(
                customer.agent_id,
                max_per_call_usd_cents=customer.per_call_cap_usd_cents,
                max_per_day_usd_cents=customer.daily_cap_usd_cents,
            )
        except SaturnError:
            logger.error(
                "caps of customer %s (agent %s) at Saturn differ from the database; "
                "a repeated plan change repairs them",
                customer.id,
                customer.agent_id,
            )

    async def churn(self, customer_id: str) -> Customer:
        """Suspend the agent, then destroy the key. Repeating it is harmless."""
        async with self._sessionmaker() as session, session.begin():
            customer = await self.get(session, customer_id)
            if customer.status == CustomerStatus.CHURNED:
                return customer
            if customer.status == CustomerStatus.PENDING:
                claimed = await repository.claim_signup(session, customer_id, SIGNUP_LEASE)
                if claimed is None:
                    raise SignupInProgress(customer_id=customer_id)
        try:
            agent_id = customer.agent_id
            if agent_id is None:
                orphan = await self._saturn.find_agent_by_name(customer.agent_name)
                agent_id = orphan.id if orphan is not None else None
            if agent_id is not None:
                try:
                    await self._saturn.suspend_agent(agent_id)
                except SaturnNotFound:
                    logger.info("agent %s of %s is already gone", agent_id, customer_id)
        except SaturnError as exc:
            if customer.status == CustomerStatus.PENDING:
                await self._release_signup(customer_id)
            raise saturn_failure(exc, "churn") from exc
        async with self._sessionmaker() as session, session.begin():
            churned = await repository.update_where(
                session,
                customer_id,
                [Customer.status != CustomerStatus.CHURNED],
                status=CustomerStatus.CHURNED.value,
                agent_key_ciphertext=None,
                agent_key_kid=None,
                agent_key_last4=None,
                signup_lease_until=None,
            )
            if churned is None:
                churned = await self.get(session, customer_id)
        logger.info("customer %s churned", customer_id)
        return churned

    # -- tokens and resolution -----------------------------------------------------------

    async def issue_access_token(
        self, session: AsyncSession, customer_id: str, data: AccessTokenCreate | None
    ) -> AccessTokenRead:
        customer = await self.get(session, customer_id)
        if customer.status != CustomerStatus.ACTIVE:
            raise CustomerInactive(
                f"Access tokens are only issued to active customers; this one is "
                f"{customer.status}.",
                customer_id=customer_id,
                status=customer.status,
            )
        settings = self._context.settings
        ttl = data.ttl_seconds if data is not None and data.ttl_seconds is not None else None
        ttl = min(
            ttl or settings.access_token_default_ttl_seconds, settings.access_token_max_ttl_seconds
        )
        now = await repository.db_now(session)
        token, claims = issue_token(
            secret=self._context.token_secret,
            prefix=CUSTOMER_TOKEN_PREFIX,
            subject=customer.id,
            ttl_seconds=ttl,
            now=now.timestamp(),
        )
        expires_at = datetime.fromtimestamp(claims.exp, tz=UTC)
        await repository.add_access_token(
            session,
            jti=claims.jti,
            customer_id=customer.id,
            token_hash=hash_secret(token),
            expires_at=expires_at,
        )
        return AccessTokenRead(token=token, expires_at=expires_at)

    async def resolve_agent(self, session: AsyncSession, customer_id: str) -> AgentResolution:
        found = await repository.get_with_plan(session, customer_id)
        if found is None:
            raise CustomerNotFound(customer_id)
        customer, plan = found
        api_key = None
        if customer.status == CustomerStatus.ACTIVE and customer.agent_key_ciphertext is not None:
            try:
                api_key = agent_keys.open_(
                    self._context.keyring, customer.id, customer.agent_key_ciphertext
                )
            except DecryptionError as exc:
                logger.error("agent key of customer %s does not decrypt: %s", customer.id, exc)
                raise AgentKeyUnreadable(customer_id=customer.id) from exc
        return AgentResolution(
            customer_id=customer.id,
            status=CustomerStatusOut(customer.status),
            plan=customer.plan_tier,
            agent_id=customer.agent_id,
            agent_api_key=api_key,
            daily_cap_usd_cents=customer.daily_cap_usd_cents,
            per_call_cap_usd_cents=customer.per_call_cap_usd_cents,
            upgrade_url=plan.upgrade_url,
            burst_days_per_month=plan.burst_days_per_month,
        )


def _check_same_request(existing: Customer, data: CustomerCreate) -> None:
    differing = [
        field
        for field, old, new in (
            ("name", existing.name, data.name),
            ("plan", existing.plan_tier, data.plan),
        )
        if old != new
    ]
    if "seats" in data.model_fields_set and existing.seats != data.seats:
        differing.append("seats")
    if differing:
        raise SignupConflict(
            f"A customer with external_id '{existing.external_id}' exists with a different "
            f"{', '.join(differing)}.",
            customer_id=existing.id,
            fields=differing,
        )
