"""Accounts, agents and policies: queries and writes only."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from saturn_local.ids import new_id

_AGENT_COLS = "a.id, a.account_id, a.name, a.role, a.status, a.metadata, a.created_at, a.updated_at"
_POLICY_COLS = (
    "p.id AS policy_id, p.max_per_call_usd_micros, p.max_per_day_usd_micros, p.kill_switch,"
    " p.created_at AS policy_created_at, p.updated_at AS policy_updated_at"
)


@dataclass(frozen=True, slots=True)
class AgentRow:
    id: str
    account_id: str
    name: str
    role: str
    status: str
    metadata: Any
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: asyncpg.Record) -> AgentRow:
        meta = row["metadata"]
        return cls(
            id=row["id"],
            account_id=row["account_id"],
            name=row["name"],
            role=row["role"],
            status=row["status"],
            metadata=json.loads(meta) if isinstance(meta, str) else meta,
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


@dataclass(frozen=True, slots=True)
class PolicyRow:
    id: str
    agent_id: str
    max_per_call_usd_micros: int | None
    max_per_day_usd_micros: int | None
    kill_switch: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, agent_id: str, row: asyncpg.Record) -> PolicyRow:
        return cls(
            id=row["policy_id"],
            agent_id=agent_id,
            max_per_call_usd_micros=row["max_per_call_usd_micros"],
            max_per_day_usd_micros=row["max_per_day_usd_micros"],
            kill_switch=row["kill_switch"],
            created_at=row["policy_created_at"],
            updated_at=row["policy_updated_at"],
        )


@dataclass(frozen=True, slots=True)
class AgentSpendRow:
    agent: AgentRow
    today_spent_usd_micros: int
    today_held_usd_micros: int
    lifetime_spent_usd_micros: int
    total_calls: int


class AgentRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def bootstrap(self, *, key_hash: str, daily_cap_usd_micros: int | None) -> bool:
        """Create the account and its primary agent unless an account exists; True if created.

        Safe against several processes starting at once: the account table holds one row.
        """
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('saturn_local.bootstrap'))")
            if await conn.fetchval("SELECT 1 FROM accounts"):
                return False
            account_id = new_id("acc")
            await conn.execute(
                "INSERT INTO accounts (id, name) VALUES ($1, 'saturn-local')", account_id
            )
            await self._insert_agent(
                conn,
                account_id=account_id,
                name="Default Agent",
                role="primary",
                metadata=None,
                key_hash=key_hash,
                daily_cap_usd_micros=daily_cap_usd_micros,
            )
            return True

    async def has_account(self) -> bool:
        return bool(await self._pool.fetchval("SELECT EXISTS (SELECT 1 FROM accounts)"))

    async def _insert_agent(
        self,
        conn: asyncpg.Connection,
        *,
        account_id: str,
        name: str,
        role: str,
        metadata: Any,
        key_hash: str,
        daily_cap_usd_micros: int | None,
    ) -> tuple[AgentRow, PolicyRow]:
        agent_id = new_id("agt")
        row = await conn.fetchrow(
            f"""
            WITH a AS (
                INSERT INTO agents (id, account_id, name, role, metadata, key_hash)
                VALUES ($1, $2, $3, $4, $5::jsonb, $6)
                RETURNING *
            ), p AS (
                INSERT INTO policies (id, agent_id, max_per_day_usd_micros)
                SELECT $7, a.id, $8 FROM a
                RETURNING *
            )
            SELECT {_AGENT_COLS}, {_POLICY_COLS} FROM a, p
            """,
            agent_id,
            account_id,
            name,
            role,
            None if metadata is None else json.dumps(metadata),
            key_hash,
            new_id("pol"),
            daily_cap_usd_micros,
        )
        assert row is not None
        return AgentRow.of(row), PolicyRow.of(agent_id, row)

    async def create_worker(
        self,
        *,
        account_id: str,
        name: str,
        metadata: Any,
        key_hash: str,
        daily_cap_usd_micros: int | None,
    ) -> tuple[AgentRow, PolicyRow]:
        async with self._pool.acquire() as conn:
            return await self._insert_agent(
                conn,
                account_id=account_id,
                name=name,
                role="worker",
                metadata=metadata,
                key_hash=key_hash,
                daily_cap_usd_micros=daily_cap_usd_micros,
            )

    async def by_key_hash(self, key_hash: str) -> AgentRow | None:
        row = await self._pool.fetchrow(
            f"SELECT {_AGENT_COLS} FROM agents a WHERE a.key_hash = $1", key_hash
        )
        return AgentRow.of(row) if row else None

    async def get(self, account_id: str, agent_id: str) -> AgentRow | None:
        row = await self._pool.fetchrow(
            f"SELECT {_AGENT_COLS} FROM agents a WHERE a.id = $1 AND a.account_id = $2",
            agent_id,
            account_id,
        )
        return AgentRow.of(row) if row else None

    async def list_all(self, account_id: str) -> list[AgentRow]:
        rows = await self._pool.fetch(
            f"SELECT {_AGENT_COLS} FROM agents a WHERE a.account_id = $1"
            " ORDER BY a.created_at, a.id",
            account_id,
        )
        return [AgentRow.of(r) for r in rows]

    async def update(
        self,
        account_id: str,
        agent_id: str,
        *,
        name: str | None,
        set_metadata: bool,
        metadata: Any,
        status: str | None,
    ) -> AgentRow | None:
        row = await self._pool.fetchrow(
            f"""
            UPDATE agents a
               SET name = COALESCE($3, a.name),
                   metadata = CASE WHEN $4 THEN $5::jsonb ELSE a.metadata END,
                   status = COALESCE($6, a.status),
                   updated_at = now()
             WHERE a.id = $1 AND a.account_id = $2
            RETURNING {_AGENT_COLS}
            """,
            agent_id,
            account_id,
            name,
            set_metadata,
            None if metadata is None else json.dumps(metadata),
            status,
        )
        return AgentRow.of(row) if row else None

    async def set_key_hash(self, account_id: str, agent_id: str, key_hash: str) -> AgentRow | None:
        row = await self._pool.fetchrow(
            f"""
            UPDATE agents a SET key_hash = $3, updated_at = now()
             WHERE a.id = $1 AND a.account_id = $2 AND a.status <> 'killed'
            RETURNING {_AGENT_COLS}
            """,
            agent_id,
            account_id,
            key_hash,
        )
        return AgentRow.of(row) if row else None

    async def kill(self, account_id: str, agent_id: str) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE agents SET status = 'killed', updated_at = now()"
                " WHERE id = $1 AND account_id = $2",
                agent_id,
                account_id,
            )
            await conn.execute(
                "UPDATE policies SET kill_switch = true, updated_at = now() WHERE agent_id = $1",
                agent_id,
            )

    async def get_policy(self, agent_id: str) -> PolicyRow | None:
        row = await self._pool.fetchrow(
            f"SELECT {_POLICY_COLS} FROM policies p WHERE p.agent_id = $1", agent_id
        )
        return PolicyRow.of(agent_id, row) if row else None

    async def update_policy(
        self,
        agent_id: str,
        *,
        set_per_call: bool,
        per_call_usd_micros: int | None,
        set_per_day: bool,
        per_day_usd_micros: int | None,
        kill_switch: bool | None,
    ) -> PolicyRow | None:
        row = await self._pool.fetchrow(
            f"""
            UPDATE policies p
               SET max_per_call_usd_micros
                       = CASE WHEN $2 THEN $3::bigint ELSE p.max_per_call_usd_micros END,
                   max_per_day_usd_micros
                       = CASE WHEN $4 THEN $5::bigint ELSE p.max_per_day_usd_micros END,
                   kill_switch = COALESCE($6, p.kill_switch),
                   updated_at = now()
             WHERE p.agent_id = $1
            RETURNING {_POLICY_COLS}
            """,
            agent_id,
            set_per_call,
            per_call_usd_micros,
            set_per_day,
            per_day_usd_micros,
            kill_switch,
        )
        return PolicyRow.of(agent_id, row) if row else None

    async def spend(self, account_id: str) -> list[AgentSpendRow]:
        rows = await self._pool.fetch(
            f"""
            SELECT {_AGENT_COLS},
                   COALESCE(t.spent_usd_micros, 0) AS today_spent,
                   COALESCE(t.held_usd_micros, 0) AS today_held,
                   COALESCE(s.spent, 0) AS lifetime_spent,
                   COALESCE(s.calls, 0) AS total_calls
              FROM agents a
              LEFT JOIN ledger_day_figures t
                     ON t.agent_id = a.id AND t.day = (now() AT TIME ZONE 'UTC')::date
              LEFT JOIN (
                    SELECT agent_id, sum(spent_usd_micros)::bigint AS spent,
                           sum(calls)::bigint AS calls
                      FROM ledger_day_figures GROUP BY agent_id
                   ) s ON s.agent_id = a.id
             WHERE a.account_id = $1
             ORDER BY a.created_at, a.id
            """,
            account_id,
        )
        return [
            AgentSpendRow(
                agent=AgentRow.of(r),
                today_spent_usd_micros=r["today_spent"],
                today_held_usd_micros=r["today_held"],
                lifetime_spent_usd_micros=r["lifetime_spent"],
                total_calls=r["total_calls"],
            )
            for r in rows
        ]
