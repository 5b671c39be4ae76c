"""usage events reported by the gateway

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "usage_events",
        sa.Column(
            "customer_id",
            sa.Text(),
            sa.ForeignKey("customers.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("cost_usd_micros", sa.BigInteger(), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("model", sa.Text(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        # Idempotency: a replayed event (same customer, same request id) is a no-op.
        sa.PrimaryKeyConstraint("customer_id", "id", name="pk_usage_events"),
        sa.CheckConstraint(
            "outcome IN ('ok', 'daily_limit', 'per_call_limit', 'error')",
            name="ck_usage_events_outcome",
        ),
        sa.CheckConstraint(
            "cost_usd_micros >= 0 AND input_tokens >= 0 AND output_tokens >= 0",
            name="ck_usage_events_non_negative",
        ),
    )
    op.create_index(
        "ix_usage_events_customer_occurred", "usage_events", ["customer_id", "occurred_at"]
    )


def downgrade() -> None:
    op.drop_table("usage_events")
