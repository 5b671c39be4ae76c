"""plans, customers (encrypted agent keys), access tokens

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("tier", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("daily_cap_usd_cents", sa.Integer(), nullable=False),
        sa.Column("per_call_cap_usd_cents", sa.Integer(), nullable=False),
        sa.Column("seat_price_usd_cents", sa.Integer(), nullable=False),
        sa.Column("burst_multiplier_percent", sa.Integer(), nullable=False),
        sa.Column("burst_days_per_month", sa.Integer(), nullable=False),
        sa.Column("rollover_max_usd_cents", sa.Integer(), nullable=False),
        sa.Column("upgrade_url", sa.Text(), nullable=False),
        *_timestamps(),
        sa.CheckConstraint("daily_cap_usd_cents > 0", name="ck_plans_daily_cap_positive"),
        sa.CheckConstraint(
            "per_call_cap_usd_cents > 0 AND per_call_cap_usd_cents <= daily_cap_usd_cents",
            name="ck_plans_per_call_cap",
        ),
        sa.CheckConstraint("seat_price_usd_cents >= 0", name="ck_plans_seat_price"),
        sa.CheckConstraint("burst_multiplier_percent >= 100", name="ck_plans_burst_multiplier"),
        sa.CheckConstraint("burst_days_per_month BETWEEN 0 AND 31", name="ck_plans_burst_days"),
        sa.CheckConstraint("rollover_max_usd_cents >= 0", name="ck_plans_rollover"),
    )
    plans = sa.table(
        "plans",
        sa.column("tier", sa.Text()),
        sa.column("name", sa.Text()),
        sa.column("daily_cap_usd_cents", sa.Integer()),
        sa.column("per_call_cap_usd_cents", sa.Integer()),
        sa.column("seat_price_usd_cents", sa.Integer()),
        sa.column("burst_multiplier_percent", sa.Integer()),
        sa.column("burst_days_per_month", sa.Integer()),
        sa.column("rollover_max_usd_cents", sa.Integer()),
        sa.column("upgrade_url", sa.Text()),
    )
    op.bulk_insert(
        plans,
        [
            {
                "tier": tier,
                "name": name,
                "daily_cap_usd_cents": daily,
                "per_call_cap_usd_cents": per_call,
                "seat_price_usd_cents": 5000,
                "burst_multiplier_percent": 200,
                "burst_days_per_month": burst_days,
                "rollover_max_usd_cents": rollover,
                "upgrade_url": "/pricing",
            }
            for tier, name, daily, per_call, burst_days, rollover in (
                ("free", "Free", 100, 25, 0, 0),
                ("pro", "Pro", 1000, 100, 3, 500),
                ("enterprise", "Enterprise", 10000, 500, 5, 5000),
            )
        ],
    )

    op.create_table(
        "customers",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("external_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "plan_tier",
            sa.Text(),
            sa.ForeignKey("plans.tier", ondelete="RESTRICT"),
            nullable=False,
        ),
        sa.Column("seats", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("agent_name", sa.Text(), nullable=False),
        sa.Column("agent_id", sa.Text(), nullable=True),
        sa.Column("agent_key_last4", sa.Text(), nullable=True),
        sa.Column("agent_key_ciphertext", postgresql.BYTEA(), nullable=True),
        sa.Column("agent_key_kid", sa.Text(), nullable=True),
        sa.Column("daily_cap_usd_cents", sa.Integer(), nullable=False),
        sa.Column("per_call_cap_usd_cents", sa.Integer(), nullable=False),
        sa.Column("signup_lease_until", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.UniqueConstraint("external_id", name="uq_customers_external_id"),
        sa.CheckConstraint(
            "status IN ('pending', 'active', 'churned')", name="ck_customers_status"
        ),
        sa.CheckConstraint("seats >= 1", name="ck_customers_seats"),
        # An active customer always has a usable agent: no half-made customer is active.
        sa.CheckConstraint(
            "status <> 'active' OR (agent_id IS NOT NULL AND agent_key_ciphertext IS NOT NULL"
            " AND agent_key_kid IS NOT NULL)",
            name="ck_customers_active_has_agent",
        ),
        sa.CheckConstraint(
            "status <> 'churned' OR agent_key_ciphertext IS NULL",
            name="ck_customers_churned_has_no_key",
        ),
    )
    op.create_index("ix_customers_created_id", "customers", ["created_at", "id"])
    op.create_index("ix_customers_plan_tier", "customers", ["plan_tier"])

    op.create_table(
        "access_tokens",
        sa.Column("jti", sa.Text(), primary_key=True),
        sa.Column(
            "customer_id",
            sa.Text(),
            sa.ForeignKey("customers.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.UniqueConstraint("token_hash", name="uq_access_tokens_token_hash"),
    )
    op.create_index("ix_access_tokens_customer_id", "access_tokens", ["customer_id"])


def downgrade() -> None:
    op.drop_table("access_tokens")
    op.drop_table("customers")
    op.drop_table("plans")
