"""Escrow's first Alembic revision: the schema the tables declare, and installations of the old SQL runner kept."""

from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, inspect, text

from energychain_shared import db, outbox

from energychain_escrow.adapters.tables import metadata
from energychain_escrow.settings import EscrowSettings

pytestmark = pytest.mark.integration


def _settings(infrastructure) -> EscrowSettings:
    return EscrowSettings(**{**infrastructure.model_dump(), "escrow_db_schema": f"escrow_schema_{uuid.uuid4().hex[:8]}"})


def _differences(sync_connection) -> list:
    declared = MetaData()
    for table in (*metadata.tables.values(), outbox.outbox):
        table.to_metadata(declared)
    context = MigrationContext.configure(sync_connection, opts={"compare_type": True})
    return [d for d in compare_metadata(context, declared) if not (d[0] == "remove_table" and d[1].name == "alembic_version")]


async def test_the_migrated_schema_is_exactly_what_the_tables_declare(infrastructure, migrated):
    settings = await migrated(_settings(infrastructure))
    engine = db.make_engine(settings, schema=settings.escrow_db_schema, pool_size=1)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
    finally:
        await engine.dispose()


async def test_a_schema_migrated_by_the_sql_runner_keeps_its_tables_and_only_records_the_revision(
    infrastructure, migrated
):
    settings = _settings(infrastructure)
    schema = settings.escrow_db_schema
    engine = db.make_engine(settings, schema=schema, pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
            await connection.execute(text("CREATE TABLE schema_migrations (version text PRIMARY KEY)"))
            await connection.execute(text("INSERT INTO schema_migrations VALUES ('0001_escrow'), ('0002_inbox_payload')"))
            await connection.execute(text("CREATE TABLE inbox (event_id text PRIMARY KEY)"))  # stands for its tables
        await migrated(settings)
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
            revision = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
    finally:
        await engine.dispose()
    assert sorted(names) == ["alembic_version", "inbox", "schema_migrations"]
    assert revision == "0001_escrow"
