"""The one database access of every service: SQLAlchemy 2.0 Core on the asyncpg driver.

One engine per process (`make_engine`), its connections working in the service's own
schema (``search_path``), so tables are declared without a schema and the same
metadata serves a test's private schema. Queries are built with SQLAlchemy inside each
service's ``adapters/`` repository; where raw asyncpg measurably matters (COPY on the
readings hot path) the repository takes the driver connection of the same transaction
with `driver_connection`. Nothing connects at import time.
"""

from __future__ import annotations

import asyncio

import asyncpg
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from energychain_shared.kafka import InfrastructureUnavailable
from energychain_shared.settings import CommonSettings


def make_engine(
    settings: CommonSettings, *, schema: str | None = None, pool_size: int = 10, **overrides
) -> AsyncEngine:
    """An asyncpg engine for the configured database; with ``schema``, every connection works in it."""
    connect_args = dict(overrides.pop("connect_args", {}))
    connect_args.setdefault("command_timeout", 120)
    if schema is not None:
        connect_args["server_settings"] = {**connect_args.get("server_settings", {}), "search_path": schema}
    return create_async_engine(
        settings.database_url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
        connect_args=connect_args, **overrides,
    )


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded attributes after commit (no lazy reloads in async code)."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def driver_connection(connection: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under ``connection``, inside its transaction (for COPY)."""
    raw = (await connection.get_raw_connection()).driver_connection
    if connection.in_transaction() and not raw.is_in_transaction():
        # SQLAlchemy begins on the first statement: make what follows part of the transaction.
        await connection.execute(text("SELECT 1"))
    return raw


async def check_database(engine: AsyncEngine, settings: CommonSettings) -> None:
    """Fail fast with one line naming the settings when PostgreSQL cannot be reached."""
    try:
        async with asyncio.timeout(settings.kafka_client_timeout_s):
            async with engine.connect() as connection:
                await connection.execute(text("select 1"))
    except (OSError, OperationalError, DBAPIError, TimeoutError) as error:
        reason = str(getattr(error, "orig", None) or error).splitlines()[0] or type(error).__name__
        raise InfrastructureUnavailable(
            f"EC_PG_HOST/EC_PG_PORT/EC_PG_DATABASE={settings.pg_host}:{settings.pg_port}/"
            f"{settings.pg_database}: database unreachable ({reason})"
        ) from None
