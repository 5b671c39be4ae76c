"""monitoring: webhook endpoints, event outbox, threshold crossings, heavy-user flags,
burst days, effective daily caps (rollover / burst)

Its own branch ("monitoring") off 0001, so it never conflicts with the usage revisions.

Revision ID: 0100
Revises: 0001
Create Date: 2025-01-02
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0100"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("monitoring",)
depends_on: str | Sequence[str] | None = None


def _created_at() -> "sa.Column[Any]":
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )


def _customer_fk() -> "sa.Column[Any]":
    return sa.Column(
        "customer_id",
        sa.Text(),
        sa.ForeignKey("customers.id", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", postgresql.ARRAY(sa.Text()), nullable=False),
        # AES-GCM under the keyring, bound to the endpoint id: the secret signs every delivery.
        sa.Column("secret_ciphertext", postgresql.BYTEA(), nullable=False),
        sa.Column("secret_kid", sa.Text(), nullable=False),
        sa.Column("secret_last4", sa.Text(), nullable=False),
        _created_at(),
        sa.CheckConstraint("cardinality(events) > 0", name="ck_webhook_endpoints_events"),
    )

    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("type", sa.Text(), nullable=False),
        # The exact bytes signed and sent, so every retry carries an identical body.
        sa.Column("body", sa.Text(), nullable=False),
        _created_at(),
    )
    op.create_index("ix_webhook_events_type_created", "webhook_events", ["type", "created_at"])

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column(
            "event_id",
            sa.Text(),
            sa.ForeignKey("webhook_events.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "endpoint_id",
            sa.Text(),
            sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("status", sa.Text(), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
        ),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        _created_at(),
        sa.UniqueConstraint("event_id", "endpoint_id", name="uq_webhook_deliveries_event_endpoint"),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed')", name="ck_webhook_deliveries_status"
        ),
    )
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["next_attempt_at", "id"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("ix_webhook_deliveries_endpoint", "webhook_deliveries", ["endpoint_id"])

    op.create_table(
        "threshold_crossings",
        _customer_fk(),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("threshold_percent", sa.Integer(), nullable=False),
        sa.Column("spent_usd_micros", sa.BigInteger(), nullable=False),
        sa.Column("daily_cap_usd_cents", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("customer_id", "day", "threshold_percent"),
    )

    op.create_table(
        "heavy_user_flags",
        _customer_fk(),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("days_at_cap", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("customer_id", "month"),
    )

    op.create_table(
        "burst_days",
        _customer_fk(),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("daily_cap_usd_cents", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("customer_id", "day"),
    )

    # The cap in force at Saturn for a customer-day when it differs from the plan's
    # (rollover at day start, raised by a burst); absent means the customer's own cap.
    op.create_table(
        "daily_caps",
        _customer_fk(),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("daily_cap_usd_cents", sa.Integer(), nullable=False),
        sa.Column("base_cap_usd_cents", sa.Integer(), nullable=False),
        sa.Column("rollover_usd_cents", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("is_burst", sa.Boolean(), nullable=False, server_default=sa.false()),
        _created_at(),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("customer_id", "day"),
        sa.CheckConstraint("daily_cap_usd_cents > 0", name="ck_daily_caps_positive"),
        sa.CheckConstraint("rollover_usd_cents >= 0", name="ck_daily_caps_rollover"),
    )


def downgrade() -> None:
    op.drop_table("daily_caps")
    op.drop_table("burst_days")
    op.drop_table("heavy_user_flags")
    op.drop_table("threshold_crossings")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_events")
    op.drop_table("webhook_endpoints")
