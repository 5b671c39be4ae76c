"""FastAPI dependencies: the app context, one session (one transaction) per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, cast

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from tenant_api.context import AppContext


def get_context(request: Request) -> AppContext:
    return cast(AppContext, request.app.state.context)


ContextDep = Annotated[AppContext, Depends(get_context)]


async def get_session(context: ContextDep) -> AsyncIterator[AsyncSession]:
    """The request's transaction, committed when the endpoint returns.

    Used with ``scope="function"`` so the commit finishes before the response is sent: a
    client never sees a 2xx for a write that then fails to commit. The session takes a
    connection only on first use, so routes that only talk to Saturn hold none.
    """
    async with context.sessionmaker() as session:
        yield session
        await session.commit()


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
