"""Queries of webhook endpoints, events and the delivery outbox."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class EndpointRow:
    id: str
    url: str
    events: list[str]
    secret_last4: str
    created_at: datetime


_ENDPOINT_COLUMNS = "id, url, events, secret_last4, created_at"


async def insert_endpoint(
    session: AsyncSession,
    *,
    endpoint_id: str,
    url: str,
    events: Sequence[str],
    secret_ciphertext: bytes,
    secret_kid: str,
    secret_last4: str,
) -> EndpointRow:
    row = (
        await session.execute(
            text(
                "INSERT INTO webhook_endpoints "
                "(id, url, events, secret_ciphertext, secret_kid, secret_last4) "
                "VALUES (:id, :url, :events, :ciphertext, :kid, :last4) "
                f"RETURNING {_ENDPOINT_COLUMNS}"
            ),
            {
                "id": endpoint_id,
                "url": url,
                "events": list(events),
                "ciphertext": secret_ciphertext,
                "kid": secret_kid,
                "last4": secret_last4,
            },
        )
    ).one()
    return EndpointRow(row.id, row.url, list(row.events), row.secret_last4, row.created_at)


async def list_endpoints(session: AsyncSession) -> list[EndpointRow]:
    rows = await session.execute(
        text(f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY created_at, id")
    )
    return [EndpointRow(r.id, r.url, list(r.events), r.secret_last4, r.created_at) for r in rows]


async def get_endpoint(session: AsyncSession, endpoint_id: str) -> EndpointRow | None:
    row = (
        await session.execute(
            text(f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = :id"),
            {"id": endpoint_id},
        )
    ).one_or_none()
    if row is None:
        return None
    return EndpointRow(row.id, row.url, list(row.events), row.secret_last4, row.created_at)


async def delete_endpoint(session: AsyncSession, endpoint_id: str) -> bool:
    """Deletes the endpoint and, by cascade, its undelivered outbox rows."""
    result = await session.execute(
        text("DELETE FROM webhook_endpoints WHERE id = :id RETURNING id"), {"id": endpoint_id}
    )
    return result.one_or_none() is not None


async def insert_event(session: AsyncSession, *, event_id: str, event_type: str, body: str) -> int:
    """Stores the event and queues one delivery per endpoint subscribed to its type;
    returns how many deliveries were queued."""
    await session.execute(
        text("INSERT INTO webhook_events (id, type, body) VALUES (:id, :type, :body)"),
        {"id": event_id, "type": event_type, "body": body},
    )
    queued = await session.execute(
        text(
            "INSERT INTO webhook_deliveries (event_id, endpoint_id) "
            "SELECT :id, w.id FROM webhook_endpoints w WHERE :type = ANY(w.events) "
            "RETURNING id"
        ),
        {"id": event_id, "type": event_type},
    )
    return len(queued.all())


async def db_now(session: AsyncSession) -> datetime:
    now: datetime = (await session.execute(text("SELECT now()"))).scalar_one()
    return now


@dataclass(frozen=True)
class ClaimedDelivery:
    id: int
    attempt: int
    endpoint_id: str
    url: str
    secret_ciphertext: bytes
    event_id: str
    event_type: str
    body: str


# Candidates are ranked per endpoint without locks, then locked with SKIP LOCKED while the
# due/lease conditions are re-checked on the locked row, so two workers never claim one row.
_CLAIM_SQL = """
WITH ranked AS (
    SELECT d.id,
           row_number() OVER (PARTITION BY d.endpoint_id ORDER BY d.next_attempt_at, d.id) AS rn
    FROM webhook_deliveries d
    WHERE d.status = 'pending' AND d.next_attempt_at <= now()
      AND (d.lease_until IS NULL OR d.lease_until < now())
      AND NOT (d.endpoint_id = ANY(CAST(:busy AS text[])))
),
picked AS (
    SELECT d.id FROM webhook_deliveries d JOIN ranked r ON r.id = d.id
    WHERE r.rn <= :per_endpoint
      AND d.status = 'pending' AND d.next_attempt_at <= now()
      AND (d.lease_until IS NULL OR d.lease_until < now())
    ORDER BY d.next_attempt_at, d.id
    LIMIT :limit
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhook_deliveries d
SET attempts = d.attempts + 1,
    lease_until = now() + make_interval(secs => :lease_seconds),
    last_attempt_at = now()
FROM picked, webhook_events e, webhook_endpoints w
WHERE d.id = picked.id AND e.id = d.event_id AND w.id = d.endpoint_id
RETURNING d.id, d.attempts, d.endpoint_id, w.url, w.secret_ciphertext, e.id AS event_id,
          e.type AS event_type, e.body
"""


async def claim_deliveries(
    session: AsyncSession,
    *,
    limit: int,
    per_endpoint: int,
    busy_endpoints: Sequence[str],
    lease_seconds: float,
) -> list[ClaimedDelivery]:
    rows = await session.execute(
        text(_CLAIM_SQL),
        {
            "limit": limit,
            "per_endpoint": per_endpoint,
            "busy": list(busy_endpoints),
            "lease_seconds": lease_seconds,
        },
    )
    return [
        ClaimedDelivery(
            id=r.id,
            attempt=r.attempts,
            endpoint_id=r.endpoint_id,
            url=r.url,
            secret_ciphertext=r.secret_ciphertext,
            event_id=r.event_id,
            event_type=r.event_type,
            body=r.body,
        )
        for r in rows
    ]


async def mark_delivered(
    session: AsyncSession, delivery_id: int, attempt: int, status_code: int
) -> bool:
    """Only the attempt that holds the claim may settle it (``attempts`` is the fence)."""
    result = await session.execute(
        text(
            "UPDATE webhook_deliveries SET status = 'delivered', delivered_at = now(), "
            "lease_until = NULL, last_status_code = :code, last_error = NULL "
            "WHERE id = :id AND attempts = :attempt AND status = 'pending' RETURNING id"
        ),
        {"id": delivery_id, "attempt": attempt, "code": status_code},
    )
    return result.one_or_none() is not None


async def mark_failed_attempt(
    session: AsyncSession,
    delivery_id: int,
    attempt: int,
    *,
    status_code: int | None,
    error: str,
    retry_in_seconds: float | None,
) -> None:
    """Schedule the next try, or give up (``retry_in_seconds`` None) after the last one."""
    await session.execute(
        text(
            "UPDATE webhook_deliveries SET lease_until = NULL, last_status_code = :code, "
            "last_error = :error, "
            "status = CASE WHEN CAST(:retry AS float8) IS NULL THEN 'failed' ELSE 'pending' END, "
            "next_attempt_at = CASE WHEN CAST(:retry AS float8) IS NULL THEN next_attempt_at "
            "  ELSE now() + make_interval(secs => CAST(:retry AS float8)) END "
            "WHERE id = :id AND attempts = :attempt AND status = 'pending'"
        ),
        {
            "id": delivery_id,
            "attempt": attempt,
            "code": status_code,
            "error": error[:500],
            "retry": retry_in_seconds,
        },
    )


async def release_claims(session: AsyncSession, claims: Sequence[tuple[int, int]]) -> None:
    """Hand interrupted attempts back at once (shutdown), instead of waiting out the lease."""
    for delivery_id, attempt in claims:
        await session.execute(
            text(
                "UPDATE webhook_deliveries SET lease_until = NULL, next_attempt_at = now() "
                "WHERE id = :id AND attempts = :attempt AND status = 'pending'"
            ),
            {"id": delivery_id, "attempt": attempt},
        )
