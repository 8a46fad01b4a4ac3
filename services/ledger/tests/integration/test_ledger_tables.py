"""adapters/tables.py is the schema the revisions create; an append's driver statements run in its transaction."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from energychain_ledger.adapters.migrations import upgrade_to_head
from energychain_ledger.adapters.store import ledger_engine
from energychain_ledger.adapters.tables import metadata
from energychain_shared.db import driver_connection
from energychain_shared.pg import create_database, drop_database

pytestmark = pytest.mark.integration


async def test_the_declared_tables_are_exactly_the_schema_the_revisions_create(ledger_settings):
    name = f"{ledger_settings.pg_database}_tables_{uuid.uuid4().hex[:8]}"
    await create_database(ledger_settings.asyncpg_dsn, name)
    settings = ledger_settings.model_copy(update={"pg_database": name})
    engine = ledger_engine(settings, pool_size=1)
    try:
        await asyncio.to_thread(upgrade_to_head, settings)
        await asyncio.to_thread(upgrade_to_head, settings)  # a second upgrade changes nothing
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}), metadata)
            )
    finally:
        await engine.dispose()
        await drop_database(ledger_settings.asyncpg_dsn, name)
    assert differences == []


async def test_driver_statements_after_the_first_sqlalchemy_statement_run_in_its_transaction(ledger_settings):
    engine = ledger_engine(ledger_settings, pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.execute(select(func.now()))
            raw = await driver_connection(connection)
            assert raw.is_in_transaction()
            assert await raw.fetchval("SELECT current_schema()") == "ledger"
    finally:
        await engine.dispose()
