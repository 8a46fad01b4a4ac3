"""PostgreSQL access for the market: an asyncpg pool and the SQL-file migrations of schema `market`."""

from __future__ import annotations

from importlib import resources

import asyncpg

# One advisory lock key per kind of exclusive job (any instance, any process).
LOCK_MIGRATE = 0x6D6B7400
LOCK_CLOCK_JOBS = 0x6D6B7401
LOCK_OUTBOX = 0x6D6B7402


async def make_pool(dsn: str, *, schema: str, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """An asyncpg pool whose connections work in ``schema``; created inside the running loop."""
    return await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, command_timeout=60, server_settings={"search_path": schema}
    )


def migration_files() -> list[tuple[str, str]]:
    """(version, SQL) of every migration shipped with the package, in order."""
    folder = resources.files("energychain_market.adapters").joinpath("migrations")
    files = sorted(f for f in folder.iterdir() if f.name.endswith(".sql"))
    return [(f.name.removesuffix(".sql"), f.read_text()) for f in files]


async def migrate(connection: asyncpg.Connection, *, schema: str) -> list[str]:
    """Apply the migrations not applied yet to ``schema``, in one transaction; returns the versions applied."""
    applied_now = []
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", LOCK_MIGRATE)
        await connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await connection.execute(f'SET LOCAL search_path TO "{schema}"')
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await connection.fetch("SELECT version FROM schema_migrations")}
        for version, sql in migration_files():
            if version in done:
                continue
            await connection.execute(sql)
            await connection.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
            applied_now.append(version)
    return applied_now
