"""The Alembic revision creates exactly the tables `adapters/tables.py` declares, and respects the old SQL runner."""

from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, text

from energychain_shared.db import make_engine
from energychain_shared.migrations import upgrade_async
from energychain_shared.outbox import outbox

from energychain_market.adapters.tables import metadata
from energychain_market.settings import MarketSettings

pytestmark = pytest.mark.integration


@pytest.fixture
async def scratch(infrastructure):
    """Settings for a schema of its own and an engine working in it; the schema is dropped afterwards."""
    schema = f"market_schema_{uuid.uuid4().hex[:8]}"
    settings = MarketSettings(**{**infrastructure.model_dump(), "market_db_schema": schema})
    engine = make_engine(settings, schema=schema, pool_size=1)
    try:
        yield settings, engine
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await engine.dispose()


def _declared() -> MetaData:
    declared = MetaData()
    for table in [*metadata.tables.values(), outbox]:
        table.to_metadata(declared)
    return declared


def _not_alembic_version(name, type_, _parent) -> bool:
    return not (type_ == "table" and name == "alembic_version")


async def test_the_migrated_schema_matches_the_declared_tables_and_the_shared_outbox(scratch):
    settings, engine = scratch
    await upgrade_async(settings, package="energychain_market", schema=settings.market_db_schema)

    def differences(sync_connection) -> list:
        context = MigrationContext.configure(
            sync_connection, opts={"compare_type": True, "include_name": _not_alembic_version}
        )
        return compare_metadata(context, _declared())

    async with engine.connect() as connection:
        assert await connection.run_sync(differences) == []
        partition = await connection.scalar(text(
            "SELECT data_type FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = 'outbox' AND column_name = 'partition'"
        ))
    assert partition == "integer"


async def test_a_schema_the_sql_runner_migrated_is_only_stamped(scratch):
    settings, engine = scratch
    async with engine.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{settings.market_db_schema}"'))
        await connection.execute(text("CREATE TABLE schema_migrations (version text PRIMARY KEY)"))
        await connection.execute(text(
            "INSERT INTO schema_migrations VALUES ('0001_market'), ('0002_outbox_partition')"
        ))
    await upgrade_async(settings, package="energychain_market", schema=settings.market_db_schema)
    async with engine.connect() as connection:
        tables = set(await connection.scalars(text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )))
        revision = await connection.scalar(text("SELECT version_num FROM alembic_version"))
    assert tables == {"schema_migrations", "alembic_version"}
    assert revision == "0001"
