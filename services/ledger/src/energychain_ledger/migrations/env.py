"""Alembic environment: runs the ledger's migrations on the async engine, in schema ``ledger``."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

SCHEMA = "ledger"
# Two processes migrating at once (two test sessions, two replicas) take turns.
_LOCK_KEY = 0x1ED6E5


def _run(connection) -> None:
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
    context.configure(connection=connection, version_table_schema=SCHEMA, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()


async def _main() -> None:
    engine = create_async_engine(context.config.attributes["url"], poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            async with connection.begin():
                await connection.run_sync(_run)
    finally:
        await engine.dispose()


asyncio.run(_main())
