"""One migration runner for every service: Alembic, each service's revisions in its package.

A service keeps its revisions in ``<package>/migrations/versions`` beside an ``env.py`` of
two lines (``from energychain_shared.migrations import run_env; run_env(metadata)``).
`upgrade` runs them in the service's schema: the schema is created when missing, the
revisions see it as their ``search_path`` (so they name tables without a schema and a
test's private schema works the same), Alembic's version table lives in it, and two
processes migrating one schema at once take turns on an advisory lock.
"""

from __future__ import annotations

import asyncio
import re
import zlib
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, text

from energychain_shared.settings import CommonSettings

SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
LOCK_MIGRATE_BASE = 0x65630000


def migrations_dir(package: str) -> Path:
    """The folder of ``package``'s Alembic environment (``<package>/migrations``)."""
    return Path(str(resources.files(package).joinpath("migrations")))


def alembic_config(settings: CommonSettings, *, package: str, schema: str) -> Config:
    """An Alembic config for ``package``'s revisions in ``schema`` of the configured database."""
    if not SCHEMA_NAME.fullmatch(schema):
        raise ValueError(f"invalid schema name {schema!r}")
    config = Config()
    config.set_main_option("script_location", str(migrations_dir(package)))
    # Attributes, not ini options: a password may contain '%'.
    config.attributes["url"] = settings.database_url
    config.attributes["schema"] = schema
    return config


def upgrade(settings: CommonSettings, *, package: str, schema: str, revision: str = "head") -> None:
    """Bring ``schema`` to ``revision`` (idempotent; safe to run from several processes at once)."""
    command.upgrade(alembic_config(settings, package=package, schema=schema), revision)


async def upgrade_async(settings: CommonSettings, *, package: str, schema: str) -> None:
    """`upgrade` from inside a running event loop (tests, benchmarks): Alembic runs in a thread of its own."""
    await asyncio.to_thread(upgrade, settings, package=package, schema=schema)


def current_revision(settings: CommonSettings, *, package: str, schema: str) -> str | None:
    """The revision ``schema`` is at (None before the first upgrade)."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    async def read() -> str | None:
        engine = create_async_engine(settings.database_url, poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(
                    lambda sync: MigrationContext.configure(
                        sync, opts={"version_table_schema": schema}
                    ).get_current_revision()
                )
        finally:
            await engine.dispose()

    return asyncio.run(read())


async def assert_migrated(engine) -> None:
    """Raise unless the engine's schema has been migrated (Alembic's version table holds a revision)."""
    async with engine.connect() as connection:
        if (await connection.execute(text("SELECT version_num FROM alembic_version LIMIT 1"))).first() is None:
            raise RuntimeError("schema not migrated: run `energychain-<service> migrate`")


async def drop_schema(settings: CommonSettings, schema: str) -> None:
    """Drop a scratch schema (a benchmark's, a test's) with everything in it."""
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    if not SCHEMA_NAME.fullmatch(schema):
        raise ValueError(f"invalid schema name {schema!r}")
    engine = create_async_engine(settings.database_url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await engine.dispose()


def _lock_key(schema: str) -> int:
    return LOCK_MIGRATE_BASE + zlib.crc32(schema.encode()) % 0x10000


def run_env(target_metadata: MetaData | None = None) -> None:
    """The body of every service's ``migrations/env.py``: run the revisions online, in the schema."""
    from alembic import context
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    schema = context.config.attributes["schema"]

    def run(connection) -> None:
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(schema)})
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        connection.execute(text(f'SET LOCAL search_path TO "{schema}"'))
        context.configure(
            connection=connection, target_metadata=target_metadata, version_table_schema=schema,
            transaction_per_migration=False,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def main() -> None:
        engine = create_async_engine(context.config.attributes["url"], poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                async with connection.begin():
                    await connection.run_sync(run)
        finally:
            await engine.dispose()

    asyncio.run(main())


def applied_by_the_sql_runner(version: str) -> bool:
    """In a revision: whether an installation migrated before Alembic already has ``version`` (a ``*.sql`` file).

    Such a schema has the table ``schema_migrations`` of the earlier runner; its first
    Alembic revision then only records itself instead of creating the tables again.
    """
    from alembic import op

    bind = op.get_bind()
    if bind.execute(text("SELECT to_regclass('schema_migrations')")).scalar() is None:
        return False
    return bind.execute(text("SELECT 1 FROM schema_migrations WHERE version = :v"), {"v": version}).first() is not None
