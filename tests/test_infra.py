import asyncpg

from copilot_kit.db import asyncpg_connect_args


async def test_each_test_gets_its_own_migrated_database(
    tenant_db_url: str, saturn_db_url: str
) -> None:
    assert tenant_db_url != saturn_db_url
    conn = await asyncpg.connect(**asyncpg_connect_args(tenant_db_url))
    try:
        version_table = await conn.fetchval("SELECT to_regclass('alembic_version')")
        assert version_table is not None
    finally:
        await conn.close()
