"""saturn-local: accounts, agents, policies, prices, ledger days, receipts, idempotency keys

Revision ID: 0001_saturn_local
Revises:
Create Date: 2025-01-01 00:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0001_saturn_local"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _run(script: str) -> None:
    # asyncpg prepares each statement: one command per execute.
    for statement in script.split(";\n"):
        if statement.strip():
            op.execute(statement)


def upgrade() -> None:
    _run(
        """
        CREATE TABLE accounts (
            id          text PRIMARY KEY,
            -- at most one account per saturn-local database; concurrent bootstraps collide here
            singleton   boolean NOT NULL DEFAULT true UNIQUE CHECK (singleton),
            name        text NOT NULL,
            created_at  timestamptz NOT NULL DEFAULT now(),
            updated_at  timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE agents (
            id          text PRIMARY KEY,
            account_id  text NOT NULL REFERENCES accounts(id),
            name        text NOT NULL,
            role        text NOT NULL CHECK (role IN ('primary', 'worker')),
            status      text NOT NULL DEFAULT 'active'
                        CHECK (status IN ('active', 'suspended', 'killed')),
            metadata    jsonb,
            key_hash    text NOT NULL UNIQUE,  -- sha256 hex of the key; the key is never stored
            created_at  timestamptz NOT NULL DEFAULT now(),
            updated_at  timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX agents_account_idx ON agents (account_id, created_at);
        CREATE UNIQUE INDEX agents_one_primary ON agents (account_id) WHERE role = 'primary';

        CREATE TABLE policies (
            id                       text PRIMARY KEY,
            agent_id                 text NOT NULL UNIQUE REFERENCES agents(id),
            -- caps are exact USD micros; NULL = no limit, never 0
            max_per_call_usd_micros  bigint CHECK (max_per_call_usd_micros > 0),
            max_per_day_usd_micros   bigint CHECK (max_per_day_usd_micros > 0),
            kill_switch              boolean NOT NULL DEFAULT false,
            created_at               timestamptz NOT NULL DEFAULT now(),
            updated_at               timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE prices (
            model                      text NOT NULL,
            version                    integer NOT NULL CHECK (version > 0),
            provider                   text NOT NULL,
            input_micros_per_million   bigint NOT NULL CHECK (input_micros_per_million >= 0),
            output_micros_per_million  bigint NOT NULL CHECK (output_micros_per_million >= 0),
            max_output_tokens          integer NOT NULL CHECK (max_output_tokens > 0),
            active                     boolean NOT NULL DEFAULT true,
            created_at                 timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (model, version)
        );
        CREATE UNIQUE INDEX prices_one_active ON prices (model) WHERE active;

        CREATE TABLE ledger_days (
            agent_id            text NOT NULL REFERENCES agents(id),
            day                 date NOT NULL,
            spent_usd_micros    bigint NOT NULL DEFAULT 0 CHECK (spent_usd_micros >= 0),
            held_usd_micros     bigint NOT NULL DEFAULT 0 CHECK (held_usd_micros >= 0),
            cap_usd_micros      bigint,  -- the daily cap in force at the last reserve/denial
            calls               integer NOT NULL DEFAULT 0,
            denied_calls        integer NOT NULL DEFAULT 0,
            daily_denied_calls  integer NOT NULL DEFAULT 0,
            PRIMARY KEY (agent_id, day)
        );

        -- One row per call: the hold while it runs, the receipt afterwards (denials too).
        CREATE TABLE receipts (
            id                  text PRIMARY KEY,
            agent_id            text NOT NULL REFERENCES agents(id),
            day                 date NOT NULL,
            model               text NOT NULL,
            price_version       integer,
            provider            text NOT NULL,
            input_tokens        integer,
            output_tokens       integer,
            max_tokens          integer,
            quoted_usd_micros   bigint NOT NULL DEFAULT 0,
            charged_usd_micros  bigint NOT NULL DEFAULT 0,
            status              text NOT NULL
                                CHECK (status IN ('held', 'settled', 'voided', 'denied')),
            outcome             text NOT NULL,
            usage_missing       boolean NOT NULL DEFAULT false,
            idempotency_key     text,
            expires_at          timestamptz,
            created_at          timestamptz NOT NULL DEFAULT now(),
            resolved_at         timestamptz,
            CHECK (charged_usd_micros >= 0 AND charged_usd_micros <= quoted_usd_micros
                   OR status = 'denied')
        );
        CREATE INDEX receipts_agent_day_idx ON receipts (agent_id, day);
        CREATE INDEX receipts_open_holds_idx ON receipts (expires_at) WHERE status = 'held';

        CREATE TABLE idempotency_keys (
            agent_id          text NOT NULL REFERENCES agents(id),
            key               text NOT NULL,
            body_hash         text NOT NULL,
            status            text NOT NULL CHECK (status IN ('pending', 'done')),
            response_status   integer,
            response_body     bytea,
            response_headers  jsonb,
            expires_at        timestamptz NOT NULL,
            created_at        timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (agent_id, key)
        );

        -- Prices in USD micros per million tokens (version 1, 2025 list prices).
        INSERT INTO prices (model, version, provider, input_micros_per_million,
                            output_micros_per_million, max_output_tokens) VALUES
            ('offline-extractive-1', 1, 'offline', 500000, 1500000, 4096),
            ('gpt-4o-mini', 1, 'openai', 150000, 600000, 16384),
            ('gpt-4o', 1, 'openai', 2500000, 10000000, 16384),
            ('gpt-4.1-mini', 1, 'openai', 400000, 1600000, 32768),
            ('gpt-4.1-nano', 1, 'openai', 100000, 400000, 32768),
            ('claude-3-5-haiku-latest', 1, 'anthropic', 800000, 4000000, 8192),
            ('claude-3-5-sonnet-latest', 1, 'anthropic', 3000000, 15000000, 8192),
            ('claude-sonnet-4-20250514', 1, 'anthropic', 3000000, 15000000, 64000);
        """
    )


def downgrade() -> None:
    _run(
        """
        DROP TABLE idempotency_keys;
        DROP TABLE receipts;
        DROP TABLE ledger_days;
        DROP TABLE prices;
        DROP TABLE policies;
        DROP TABLE agents;
        DROP TABLE accounts;
        """
    )
