"""Scratch databases (a sandbox's, a benchmark's): created and dropped with plain asyncpg.

The services' own access is `db` (the engine), `outbox` and `migrations`.
"""

from __future__ import annotations

import asyncio

import asyncpg


async def create_database(admin_dsn: str, name: str) -> None:
    """Create a scratch database (a sandbox's, a benchmark's) on the server of ``admin_dsn``."""
    connection = await asyncpg.connect(admin_dsn)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def drop_database(admin_dsn: str, name: str, *, attempts: int = 20) -> None:
    """Drop a scratch database (a sandbox's, a benchmark's) once its users have stopped.

    ``WITH (FORCE)`` ends stray sessions of our own role, but PostgreSQL refuses it to a
    non-superuser while an autovacuum worker is in the database (it has no role); a plain
    DROP stops autovacuum by itself, so fall back to it, and retry while a session lingers.
    """
    connection = await asyncpg.connect(admin_dsn)
    try:
        for attempt in range(attempts):
            try:
                await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return
            except asyncpg.InsufficientPrivilegeError:
                try:
                    await connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
                    return
                except asyncpg.ObjectInUseError:
                    if attempt == attempts - 1:
                        raise
                    await asyncio.sleep(0.5)
    finally:
        await connection.close()
