"""usage day totals: a running per-(customer, UTC day) aggregate of usage_events

Kept by a statement-level AFTER INSERT trigger on usage_events, in the inserting transaction.
Its transition table holds only the rows actually inserted (``ON CONFLICT DO NOTHING`` skips
replays), so each batch adds exactly its new events whatever path wrote them, at a cost that
grows with the batch and not with the day.

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The aggregate of a set of usage_events rows; keep in step with usage_source.CustomerDay.
_AGGREGATE = """
SELECT customer_id,
       (occurred_at AT TIME ZONE 'UTC')::date AS day,
       sum(cost_usd_micros)::bigint,
       count(*),
       count(*) FILTER (WHERE outcome IN ('daily_limit', 'per_call_limit')),
       count(*) FILTER (WHERE outcome = 'daily_limit')
FROM {source}
GROUP BY 1, 2
ORDER BY 1, 2
"""

_COLUMNS = "customer_id, day, spent_usd_micros, requests, limited_requests, daily_limited_requests"


def upgrade() -> None:
    op.create_table(
        "usage_day_totals",
        sa.Column(
            "customer_id",
            sa.Text(),
            sa.ForeignKey("customers.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("spent_usd_micros", sa.BigInteger(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("limited_requests", sa.BigInteger(), nullable=False),
        sa.Column("daily_limited_requests", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "day", name="pk_usage_day_totals"),
    )
    # The monthly scans (heavy users, reports) read by day across customers.
    op.create_index("ix_usage_day_totals_day", "usage_day_totals", ["day"])
    # Rows in (customer, day) order so concurrent batches lock shared rows in the same order.
    op.execute(
        f"""
        CREATE FUNCTION usage_day_totals_add() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO usage_day_totals ({_COLUMNS})
            {_AGGREGATE.format(source="inserted")}
            ON CONFLICT (customer_id, day) DO UPDATE SET
                spent_usd_micros = usage_day_totals.spent_usd_micros
                    + excluded.spent_usd_micros,
                requests = usage_day_totals.requests + excluded.requests,
                limited_requests = usage_day_totals.limited_requests
                    + excluded.limited_requests,
                daily_limited_requests = usage_day_totals.daily_limited_requests
                    + excluded.daily_limited_requests;
            RETURN NULL;
        END;
        $$
        """
    )
    # CREATE TRIGGER locks usage_events against writes until this migration commits, so the
    # backfill below and the trigger never both count (or both miss) an event.
    op.execute(
        "CREATE TRIGGER usage_day_totals_add AFTER INSERT ON usage_events "
        "REFERENCING NEW TABLE AS inserted "
        "FOR EACH STATEMENT EXECUTE FUNCTION usage_day_totals_add()"
    )
    op.execute(
        f"INSERT INTO usage_day_totals ({_COLUMNS}) {_AGGREGATE.format(source='usage_events')}"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER usage_day_totals_add ON usage_events")
    op.execute("DROP FUNCTION usage_day_totals_add()")
    op.drop_table("usage_day_totals")
