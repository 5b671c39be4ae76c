"""Plan tiers are data; changing a plan's caps reaches every active customer on it."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from copilot_kit.errors import Conflict, InvalidRequest
from tenant_api.context import AppContext
from tenant_api.models import Plan
from tenant_api.plans import repository
from tenant_api.plans.schemas import PlanUpsert
from tenant_api.saturn_caps import CapTarget, push_caps


class UnknownPlan(InvalidRequest):
    code = "unknown_plan"

    def __init__(self, tier: str) -> None:
        super().__init__(f"There is no plan '{tier}'.", field="plan", plan=tier)


class PlanService:
    def __init__(self, context: AppContext) -> None:
        self._context = context

    async def list(self, session: AsyncSession) -> Sequence[Plan]:
        return await repository.list_plans(session)

    async def upsert(self, tier: str, data: PlanUpsert) -> tuple[Plan, bool]:
        """Create or replace a plan; returns it and whether it was created.

        A cap change is applied at Saturn to every active customer on the plan first; only
        when all succeeded are the plan and the customers' recorded caps written. If Saturn
        fails, the agents already changed are restored and the plan stays as it was.
        """
        sessionmaker = self._context.sessionmaker
        async with sessionmaker() as session, session.begin():
            plan = await repository.get_plan(session, tier)
            if plan is None:
                plan = Plan(tier=tier, **data.model_dump())
                session.add(plan)
                try:
                    await session.flush()
                except IntegrityError as exc:
                    raise Conflict(f"The plan '{tier}' was created concurrently.") from exc
                return plan, True
            caps_changed = (plan.daily_cap_usd_cents, plan.per_call_cap_usd_cents) != (
                data.daily_cap_usd_cents,
                data.per_call_cap_usd_cents,
            )
            if not caps_changed:
                _apply(plan, data)
                await session.flush()
                return plan, False
            targets = [
                CapTarget(c.id, c.agent_id, c.daily_cap_usd_cents, c.per_call_cap_usd_cents)
                for c in await repository.active_customers_on(session, tier)
                if c.agent_id is not None
            ]
        # No transaction is open while Saturn is called.
        await push_caps(
            self._context.saturn,
            targets,
            daily_usd_cents=data.daily_cap_usd_cents,
            per_call_usd_cents=data.per_call_cap_usd_cents,
            action="plan cap change",
        )
        async with sessionmaker() as session, session.begin():
            plan = await repository.get_plan(session, tier, for_update=True)
            if plan is None:
                raise Conflict(f"The plan '{tier}' was removed concurrently.")
            _apply(plan, data)
            await repository.set_caps_of_customers(
                session,
                [t.customer_id for t in targets],
                daily=data.daily_cap_usd_cents,
                per_call=data.per_call_cap_usd_cents,
            )
            await session.flush()
        return plan, False


def _apply(plan: Plan, data: PlanUpsert) -> None:
    for field, value in data.model_dump().items():
        setattr(plan, field, value)
