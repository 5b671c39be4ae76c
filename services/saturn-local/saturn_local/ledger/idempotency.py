"""``Idempotency-Key`` per agent: the first request claims the key, duplicates wait for its
stored result; a failed first attempt releases the key so a retry runs again."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

import asyncpg

from saturn_local.errors import IdempotencyInProgress, IdempotencyKeyReused

# A claim whose owner vanished (crashed process) can be taken over once it expires.
_CLAIM = """
INSERT INTO idempotency_keys AS k (agent_id, key, body_hash, status, expires_at)
VALUES ($1, $2, $3, 'pending', now() + make_interval(secs => $4))
ON CONFLICT (agent_id, key) DO UPDATE
    SET expires_at = EXCLUDED.expires_at, created_at = now()
    WHERE k.status = 'pending' AND k.expires_at < now() AND k.body_hash = EXCLUDED.body_hash
RETURNING 1
"""
_READ = """
SELECT body_hash, status, response_status, response_body, response_headers
FROM idempotency_keys WHERE agent_id = $1 AND key = $2
"""
_COMPLETE = """
UPDATE idempotency_keys
   SET status = 'done', response_status = $3, response_body = $4, response_headers = $5::jsonb,
       expires_at = now() + interval '24 hours'
 WHERE agent_id = $1 AND key = $2
"""
_RELEASE = "DELETE FROM idempotency_keys WHERE agent_id = $1 AND key = $2 AND status = 'pending'"
RETENTION_SQL = "DELETE FROM idempotency_keys WHERE expires_at < now() - interval '1 day'"


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    body: bytes
    headers: dict[str, str]


class IdempotencyStore:
    def __init__(self, pool: asyncpg.Pool, *, claim_ttl_seconds: float, wait_seconds: float):
        self._pool = pool
        self._ttl = claim_ttl_seconds
        self._wait = wait_seconds

    async def claim(self, agent_id: str, key: str, body_hash: str) -> StoredResponse | None:
        """None: this request owns the key and must run. Else the first request's response.

        Raises IdempotencyKeyReused for another body, IdempotencyInProgress if the first
        request is still running when the wait ends.
        """
        deadline = time.monotonic() + self._wait
        delay = 0.01
        while True:
            if await self._pool.fetchval(_CLAIM, agent_id, key, body_hash, self._ttl):
                return None
            row = await self._pool.fetchrow(_READ, agent_id, key)
            if row is None:
                continue  # released between our two statements: try to claim it again
            if row["body_hash"] != body_hash:
                raise IdempotencyKeyReused(
                    "This Idempotency-Key was already used with a different request body"
                )
            if row["status"] == "done":
                return StoredResponse(
                    status=row["response_status"],
                    body=bytes(row["response_body"]),
                    headers=json.loads(row["response_headers"]),
                )
            if time.monotonic() >= deadline:
                raise IdempotencyInProgress(
                    "A request with this Idempotency-Key is still in progress"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)

    async def complete(self, agent_id: str, key: str, response: StoredResponse) -> None:
        await self._pool.execute(
            _COMPLETE,
            agent_id,
            key,
            response.status,
            response.body,
            json.dumps(response.headers),
        )

    async def release(self, agent_id: str, key: str) -> None:
        await self._pool.execute(_RELEASE, agent_id, key)
