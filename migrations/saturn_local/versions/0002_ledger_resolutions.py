"""saturn-local ledger: settle and void off the hot (agent, day) row

The day row keeps a monotonic ``committed_usd_micros`` (every hold taken that day) plus the
counters and the cap; resolutions add to monotonic ``released_usd_micros`` / ``spent_usd_micros``
in ``ledger_resolutions`` rows of their own, so a settle never waits for (nor holds) the lock
that reserves queue on. spent = sum(spent), held = committed - sum(released) - sum(spent);
the ``ledger_day_figures`` view gives both.

Revision ID: 0002_ledger_resolutions
Revises: 0001_saturn_local
Create Date: 2025-01-02 00:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002_ledger_resolutions"
down_revision: str | None = "0001_saturn_local"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_VIEW = """
        CREATE VIEW ledger_day_figures AS
        SELECT d.agent_id, d.day,
               COALESCE(r.spent, 0)::bigint AS spent_usd_micros,
               (d.committed_usd_micros - COALESCE(r.released, 0) - COALESCE(r.spent, 0))::bigint
                   AS held_usd_micros,
               d.committed_usd_micros,
               COALESCE(r.released, 0)::bigint AS released_usd_micros,
               d.cap_usd_micros, d.calls, d.denied_calls, d.daily_denied_calls
          FROM ledger_days d
          LEFT JOIN LATERAL (
                SELECT sum(s.released_usd_micros) AS released, sum(s.spent_usd_micros) AS spent
                  FROM ledger_resolutions s
                 WHERE s.agent_id = d.agent_id AND s.day = d.day
               ) r ON true
"""


def _run(script: str) -> None:
    # asyncpg prepares each statement: one command per execute.
    for statement in script.split(";\n"):
        if statement.strip():
            op.execute(statement)


def upgrade() -> None:
    _run(
        """
        CREATE TABLE ledger_resolutions (
            agent_id             text NOT NULL REFERENCES agents(id),
            day                  date NOT NULL,
            shard                smallint NOT NULL DEFAULT 0 CHECK (shard >= 0),
            released_usd_micros  bigint NOT NULL DEFAULT 0 CHECK (released_usd_micros >= 0),
            spent_usd_micros     bigint NOT NULL DEFAULT 0 CHECK (spent_usd_micros >= 0),
            PRIMARY KEY (agent_id, day, shard)
        );

        ALTER TABLE ledger_days
            ADD COLUMN committed_usd_micros bigint NOT NULL DEFAULT 0
                CHECK (committed_usd_micros >= 0);

        UPDATE ledger_days SET committed_usd_micros = spent_usd_micros + held_usd_micros;

        INSERT INTO ledger_resolutions (agent_id, day, shard, released_usd_micros,
                                        spent_usd_micros)
        SELECT agent_id, day, 0, 0, spent_usd_micros FROM ledger_days;

        ALTER TABLE ledger_days DROP COLUMN spent_usd_micros, DROP COLUMN held_usd_micros;
        """
        + ";\n"
        + _VIEW
    )


def downgrade() -> None:
    _run(
        """
        ALTER TABLE ledger_days
            ADD COLUMN spent_usd_micros bigint NOT NULL DEFAULT 0
                CHECK (spent_usd_micros >= 0),
            ADD COLUMN held_usd_micros bigint NOT NULL DEFAULT 0 CHECK (held_usd_micros >= 0);

        UPDATE ledger_days d
           SET spent_usd_micros = f.spent_usd_micros, held_usd_micros = f.held_usd_micros
          FROM ledger_day_figures f
         WHERE f.agent_id = d.agent_id AND f.day = d.day;

        DROP VIEW ledger_day_figures;
        DROP TABLE ledger_resolutions;
        ALTER TABLE ledger_days DROP COLUMN committed_usd_micros;
        """
    )
