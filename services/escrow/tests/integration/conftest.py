"""Escrow's schemas for integration tests: migrated with its Alembic revisions, dropped after each test."""

from __future__ import annotations

import pytest

from energychain_shared import db, migrations

from energychain_escrow.adapters import repository
from energychain_escrow.settings import EscrowSettings

PACKAGE = "energychain_escrow"


@pytest.fixture
async def migrated(infrastructure):
    """``await migrated(settings)`` brings ``settings.escrow_db_schema`` to the head revision; dropped at teardown."""
    made: list[str] = []

    async def migrate(settings: EscrowSettings) -> EscrowSettings:
        made.append(settings.escrow_db_schema)
        await migrations.upgrade_async(settings, package=PACKAGE, schema=settings.escrow_db_schema)
        return settings

    yield migrate
    engine = db.make_engine(infrastructure, pool_size=1)
    try:
        async with engine.begin() as connection:
            for schema in made:
                await repository.drop_schema(connection, schema)
    finally:
        await engine.dispose()
