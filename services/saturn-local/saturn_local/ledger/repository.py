"""The budget ledger: per agent and UTC day, ``spent`` and ``held`` in USD micros.

Two kinds of rows, so a settle never waits for the lock reserves queue on (nor holds it across
its commit): ``ledger_days`` keeps the day's monotonic ``committed`` (every hold taken), the
counters and the cap; ``ledger_resolutions`` (per agent, day and shard) keeps the monotonic
``released`` (hold - charge, or the whole hold on void/expiry) and ``spent`` (charges).
spent = sum(spent), held = committed - sum(released) - sum(spent) (view
``ledger_day_figures``).

Reserve is ONE statement: it reads the agent's policy, creates or updates the day's row only
if ``committed - released + hold <= cap`` (the row lock taken by ``ON CONFLICT`` serialises
concurrent reserves and the check runs against the latest ``committed``; ``released`` is read
without a lock, so a stale read can only under-count releases and refuse early, never
overspend) and inserts the hold in the same step. Settle and void are ONE statement too: flip
the hold's status ``held`` -> ``settled``/``voided`` under ``WHERE status = 'held'`` (so each
hold is resolved exactly once whoever races for it: the request, its cancellation handler or
the sweeper) and add it to its resolution row. The day is taken from the database clock
(``now_sql``; tests substitute an SQL expression they control).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import asyncpg

# Sum of a day's resolutions, read WITHOUT a lock (the statement's snapshot): a resolution
# that commits while the statement runs is missed, which only under-counts releases, so a
# reserve may refuse too early but never over-commits.
_RESOLVED = """
    SELECT COALESCE(sum(released_usd_micros), 0)::bigint AS released,
           COALESCE(sum(spent_usd_micros), 0)::bigint AS spent
      FROM ledger_resolutions WHERE agent_id = $2 AND day = {day}
"""

_RESERVE = """
WITH clock AS (SELECT {now} AS now),
pol AS (
    SELECT max_per_day_usd_micros AS cap, max_per_call_usd_micros AS per_call, kill_switch
    FROM policies WHERE agent_id = $2
),
ok AS (
    SELECT clock.now, (clock.now AT TIME ZONE 'UTC')::date AS day, pol.cap
    FROM clock, pol
    WHERE NOT pol.kill_switch
      AND (pol.per_call IS NULL OR $3 <= pol.per_call)
      AND (pol.cap IS NULL OR $3 <= pol.cap)
),
res AS ({resolved_ok}),
day_row AS (
    INSERT INTO ledger_days AS d (agent_id, day, committed_usd_micros, calls, cap_usd_micros)
    SELECT $2, ok.day, $3, 1, ok.cap FROM ok
    ON CONFLICT (agent_id, day) DO UPDATE
        SET committed_usd_micros = d.committed_usd_micros + EXCLUDED.committed_usd_micros,
            calls = d.calls + 1,
            cap_usd_micros = EXCLUDED.cap_usd_micros
        WHERE EXCLUDED.cap_usd_micros IS NULL
           OR d.committed_usd_micros + EXCLUDED.committed_usd_micros
              <= EXCLUDED.cap_usd_micros + (SELECT released FROM res)
    RETURNING d.day, d.committed_usd_micros, d.cap_usd_micros
),
hold AS (
    INSERT INTO receipts (id, agent_id, day, model, price_version, provider, input_tokens,
                          max_tokens, quoted_usd_micros, status, outcome, idempotency_key,
                          expires_at, created_at)
    SELECT $1, $2, day_row.day, $4, $5, $6, $7, $8, $3, 'held', 'pending', $10,
           ok.now + make_interval(secs => $9), ok.now
    FROM day_row, ok
    RETURNING id
)
SELECT day_row.day, res.spent,
       day_row.committed_usd_micros - res.released - res.spent AS held,
       day_row.cap_usd_micros AS cap, (SELECT count(*) FROM hold) AS holds
FROM day_row, res
"""

_DENY = """
WITH clock AS (SELECT {now} AS now),
pol AS (
    SELECT max_per_day_usd_micros AS cap, max_per_call_usd_micros AS per_call, kill_switch
    FROM policies WHERE agent_id = $2
),
why AS (
    SELECT clock.now, (clock.now AT TIME ZONE 'UTC')::date AS day, pol.cap,
           CASE WHEN pol.kill_switch THEN 'kill_switch_active'
                WHEN pol.per_call IS NOT NULL AND $3 > pol.per_call
                    THEN 'per_call_limit_exceeded'
                ELSE 'daily_limit_exceeded' END AS reason
    FROM clock, pol
),
res AS ({resolved_why}),
day_row AS (
    INSERT INTO ledger_days AS d (agent_id, day, denied_calls, daily_denied_calls,
                                  cap_usd_micros)
    SELECT $2, why.day, 1, (why.reason = 'daily_limit_exceeded')::int, why.cap FROM why
    ON CONFLICT (agent_id, day) DO UPDATE
        SET denied_calls = d.denied_calls + 1,
            daily_denied_calls = d.daily_denied_calls + EXCLUDED.daily_denied_calls,
            cap_usd_micros = EXCLUDED.cap_usd_micros
    RETURNING d.day, d.committed_usd_micros, d.cap_usd_micros
),
receipt AS (
    INSERT INTO receipts (id, agent_id, day, model, price_version, provider, input_tokens,
                          max_tokens, quoted_usd_micros, status, outcome, created_at,
                          resolved_at)
    SELECT $1, $2, day_row.day, $4, $5, $6, $7, $8, $3, 'denied',
           'denied_' || why.reason, why.now, why.now
    FROM day_row, why
    RETURNING id
)
SELECT day_row.day, res.spent,
       day_row.committed_usd_micros - res.released - res.spent AS held,
       day_row.cap_usd_micros AS cap, why.reason, (SELECT count(*) FROM receipt) AS receipts
FROM day_row, why, res
"""

# Never touches ledger_days' lock: the receipt flips held -> settled/voided exactly once and
# its hold moves into the day's resolution shard. The spent figure is this shard's latest
# value (its row lock serialises the shard's settles) plus the other shards as of this
# statement's snapshot; the cap is the day row's as of the snapshot.
_RESOLVE = """
WITH r AS (
    UPDATE receipts
       SET status = $2, outcome = $3,
           charged_usd_micros = LEAST($4::bigint, quoted_usd_micros),
           input_tokens = COALESCE($5, input_tokens), output_tokens = $6,
           usage_missing = $7, resolved_at = clock_timestamp()
     WHERE id = $1 AND status = 'held'
    RETURNING agent_id, day, quoted_usd_micros, charged_usd_micros
),
s AS (
    INSERT INTO ledger_resolutions AS s (agent_id, day, shard, released_usd_micros,
                                         spent_usd_micros)
    SELECT r.agent_id, r.day, {shard_of_id}, r.quoted_usd_micros - r.charged_usd_micros,
           r.charged_usd_micros
      FROM r
    ON CONFLICT (agent_id, day, shard) DO UPDATE
        SET released_usd_micros = s.released_usd_micros + EXCLUDED.released_usd_micros,
            spent_usd_micros = s.spent_usd_micros + EXCLUDED.spent_usd_micros
    RETURNING s.agent_id, s.day, s.shard, s.spent_usd_micros
)
SELECT s.spent_usd_micros
       + (SELECT COALESCE(sum(o.spent_usd_micros), 0)::bigint FROM ledger_resolutions o
           WHERE o.agent_id = s.agent_id AND o.day = s.day AND o.shard <> s.shard) AS spent,
       (SELECT d.cap_usd_micros FROM ledger_days d
         WHERE d.agent_id = s.agent_id AND d.day = s.day) AS cap,
       r.charged_usd_micros AS charged, r.quoted_usd_micros AS quoted
FROM r, s
"""

_SWEEP = """
WITH r AS (
    UPDATE receipts
       SET status = 'voided', outcome = 'expired', charged_usd_micros = 0,
           resolved_at = clock_timestamp()
     WHERE status = 'held' AND expires_at < {now}
    RETURNING id, agent_id, day, quoted_usd_micros
),
agg AS (
    SELECT agent_id, day, {shard_of_r_id} AS shard, sum(quoted_usd_micros)::bigint AS quoted,
           count(*) AS n
    FROM r GROUP BY 1, 2, 3
),
upd AS (
    -- A fixed lock order, so two sweepers never deadlock on each other's shards.
    INSERT INTO ledger_resolutions AS s (agent_id, day, shard, released_usd_micros)
    SELECT agent_id, day, shard, quoted FROM agg ORDER BY agent_id, day, shard
    ON CONFLICT (agent_id, day, shard) DO UPDATE
        SET released_usd_micros = s.released_usd_micros + EXCLUDED.released_usd_micros
    RETURNING 1
)
SELECT COALESCE(sum(n), 0)::bigint FROM agg
"""

_USAGE = """
WITH clock AS (SELECT ({now} AT TIME ZONE 'UTC')::date AS today),
days AS (
    SELECT (clock.today - g)::date AS day FROM clock, generate_series(0, $2 - 1) AS g
)
SELECT days.day, COALESCE(d.spent_usd_micros, 0) AS spent, COALESCE(d.held_usd_micros, 0) AS held,
       COALESCE(d.cap_usd_micros, p.max_per_day_usd_micros) AS cap,
       COALESCE(d.calls, 0) AS calls, COALESCE(d.denied_calls, 0) AS denied_calls,
       COALESCE(d.daily_denied_calls, 0) AS daily_denied_calls
FROM days
LEFT JOIN ledger_day_figures d ON d.agent_id = $1 AND d.day = days.day
LEFT JOIN policies p ON p.agent_id = $1
ORDER BY days.day DESC
"""


def next_midnight(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class HoldRequest:
    receipt_id: str
    agent_id: str
    hold_usd_micros: int
    model: str
    price_version: int | None
    provider: str
    input_tokens: int
    max_tokens: int
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class Hold:
    receipt_id: str
    day: date
    spent_usd_micros: int
    held_usd_micros: int
    cap_usd_micros: int | None
    quoted_usd_micros: int


@dataclass(frozen=True, slots=True)
class Denial:
    reason: str  # kill_switch_active | per_call_limit_exceeded | daily_limit_exceeded
    day: date
    spent_usd_micros: int
    held_usd_micros: int
    cap_usd_micros: int | None
    quote_usd_micros: int

    @property
    def resets_at(self) -> datetime:
        return next_midnight(self.day)


@dataclass(frozen=True, slots=True)
class Resolution:
    """A hold's outcome, with the day's figures right after it (the same statement)."""

    charged_usd_micros: int
    quoted_usd_micros: int
    # The day's spent right after this settle; with more than one resolution shard it
    # cannot include another shard's settle that is still committing (see Ledger).
    spent_usd_micros: int
    # The cap the day's row carries: the one the latest reserve or denial of the day saw.
    cap_usd_micros: int | None = None


@dataclass(frozen=True, slots=True)
class DayUsage:
    day: date
    spent_usd_micros: int
    held_usd_micros: int
    cap_usd_micros: int | None
    calls: int
    denied_calls: int
    daily_denied_calls: int

    @property
    def at_cap(self) -> bool:
        if self.daily_denied_calls > 0:
            return True
        return self.cap_usd_micros is not None and self.spent_usd_micros >= self.cap_usd_micros


class Ledger:
    """The ledger's statements.

    ``resolution_shards``: how many ``ledger_resolutions`` rows per (agent, day) settles and
    voids spread over. 1 (the default) serialises an agent's settles on one row of their own
    (never the reserves' row), so each settle's spent figure is exact and distinct; more
    shards let settles of one hot agent run in parallel, and then a settle's spent figure
    cannot include a concurrent settle on another shard that has not committed yet.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        now_sql: str = "now()",
        hold_ttl_seconds: int = 300,
        resolution_shards: int = 1,
    ):
        if not 1 <= resolution_shards <= 256:
            raise ValueError("resolution_shards must be from 1 to 256")
        self._pool = pool
        self._ttl = float(hold_ttl_seconds)

        def shard_of(id_sql: str) -> str:
            if resolution_shards == 1:
                return "0"
            return f"((hashtext({id_sql}) & 2147483647) % {resolution_shards})"

        self._reserve = _RESERVE.format(
            now=now_sql, resolved_ok=_RESOLVED.format(day="(SELECT day FROM ok)")
        )
        self._deny = _DENY.format(
            now=now_sql, resolved_why=_RESOLVED.format(day="(SELECT day FROM why)")
        )
        self._resolve_sql = _RESOLVE.format(shard_of_id=shard_of("$1"))
        self._sweep = _SWEEP.format(now=now_sql, shard_of_r_id=shard_of("r.id"))
        self._usage = _USAGE.format(now=now_sql)
        self._today = f"SELECT ({now_sql} AT TIME ZONE 'UTC')::date"

    async def reserve(self, req: HoldRequest) -> Hold | Denial | None:
        """Take the hold, or record and return the denial. None: the agent has no policy."""
        args = (
            req.receipt_id,
            req.agent_id,
            req.hold_usd_micros,
            req.model,
            req.price_version,
            req.provider,
            req.input_tokens,
            req.max_tokens,
        )
        row = await self._pool.fetchrow(self._reserve, *args, self._ttl, req.idempotency_key)
        if row is not None:
            return Hold(
                receipt_id=req.receipt_id,
                day=row["day"],
                spent_usd_micros=row["spent"],
                held_usd_micros=row["held"],
                cap_usd_micros=row["cap"],
                quoted_usd_micros=req.hold_usd_micros,
            )
        row = await self._pool.fetchrow(self._deny, *args)
        if row is None:
            return None
        return Denial(
            reason=row["reason"],
            day=row["day"],
            spent_usd_micros=row["spent"],
            held_usd_micros=row["held"],
            cap_usd_micros=row["cap"],
            quote_usd_micros=req.hold_usd_micros,
        )

    async def settle(
        self,
        receipt_id: str,
        *,
        charged_usd_micros: int,
        input_tokens: int | None,
        output_tokens: int | None,
        usage_missing: bool = False,
        outcome: str = "ok",
    ) -> Resolution | None:
        """Charge ``min(charged, hold)`` and release the rest; None if already resolved."""
        return await self._resolve(
            receipt_id,
            "settled",
            outcome,
            charged_usd_micros,
            input_tokens,
            output_tokens,
            usage_missing,
        )

    async def void(self, receipt_id: str, *, outcome: str) -> Resolution | None:
        """Release the whole hold, charging nothing; None if already resolved."""
        return await self._resolve(receipt_id, "voided", outcome, 0, None, None, False)

    async def _resolve(
        self,
        receipt_id: str,
        status: str,
        outcome: str,
        charged: int,
        input_tokens: int | None,
        output_tokens: int | None,
        usage_missing: bool,
    ) -> Resolution | None:
        row = await self._pool.fetchrow(
            self._resolve_sql,
            receipt_id,
            status,
            outcome,
            max(0, charged),
            input_tokens,
            output_tokens,
            usage_missing,
        )
        if row is None:
            return None
        return Resolution(
            charged_usd_micros=row["charged"],
            quoted_usd_micros=row["quoted"],
            spent_usd_micros=row["spent"],
            cap_usd_micros=row["cap"],
        )

    async def sweep(self) -> int:
        """Void every expired hold (exactly once each); returns how many."""
        count: int = await self._pool.fetchval(self._sweep)
        return count

    async def today(self) -> date:
        day: date = await self._pool.fetchval(self._today)
        return day

    async def usage(self, agent_id: str, days: int) -> list[DayUsage]:
        rows = await self._pool.fetch(self._usage, agent_id, days)
        return [
            DayUsage(
                day=r["day"],
                spent_usd_micros=r["spent"],
                held_usd_micros=r["held"],
                cap_usd_micros=r["cap"],
                calls=r["calls"],
                denied_calls=r["denied_calls"],
                daily_denied_calls=r["daily_denied_calls"],
            )
            for r in rows
        ]
