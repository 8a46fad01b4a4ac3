"""SQLAlchemy 2.0 async engine and sessions on asyncpg; created by callers, never at import."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from energychain_shared.kafka import InfrastructureUnavailable
from energychain_shared.settings import CommonSettings


def make_engine(settings: CommonSettings, *, pool_size: int = 10, **overrides) -> AsyncEngine:
    """An asyncpg engine for the configured database."""
    return create_async_engine(
        settings.database_url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, **overrides
    )


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded attributes after commit (no lazy reloads in async code)."""
    return async_sessionmaker(engine, expire_on_commit=False)


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
