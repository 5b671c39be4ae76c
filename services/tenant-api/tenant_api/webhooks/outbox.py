"""Emitting events: written in the caller's transaction, so an event exists exactly when
the change that caused it commits, and is delivered later by the worker."""

from __future__ import annotations

import json
import secrets
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tenant_api.webhooks import repository
from tenant_api.webhooks.schemas import WebhookEventType


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(16)


async def emit(
    session: AsyncSession,
    event_type: WebhookEventType,
    data: dict[str, Any],
    *,
    event_id: str | None = None,
) -> str:
    """Store the event and its outbox rows (one per subscribed endpoint); returns its id.

    The body is serialised once and stored: every retry sends (and signs) the same bytes.
    """
    event_id = event_id or new_event_id()
    created_at = await repository.db_now(session)
    body = json.dumps(
        {
            "id": event_id,
            "type": event_type.value,
            "created_at": created_at.isoformat().replace("+00:00", "Z"),
            "data": data,
        },
        separators=(",", ":"),
    )
    await repository.insert_event(
        session, event_id=event_id, event_type=event_type.value, body=body
    )
    return event_id
