"""Raw asyncpg access for the stream services: a pool per schema, SQL-file migrations, the outbox.

Each service owns one PostgreSQL schema, created and upgraded by its `migrate`
command from the ``*.sql`` files shipped in its package. Events a transaction
decides are written to that schema's ``outbox`` table in the same transaction and
published after commit (transactional outbox), so a crash never loses an event
and never publishes one whose decision was rolled back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import asyncpg
from aiokafka import AIOKafkaProducer

from energychain_shared.events import Event, encode
from energychain_shared.kafka import FATAL_PRODUCER_ERRORS, RenewableProducer

_SCHEMA_NAME = "^[a-z_][a-z0-9_]{0,62}$"
LOCK_MIGRATE = 0x65630000
LOCK_OUTBOX_BASE = 0x65631000

OUTBOX_DDL = """
CREATE TABLE IF NOT EXISTS outbox (
    seq bigserial PRIMARY KEY,
    event_id text NOT NULL,
    topic text NOT NULL,
    partition integer,
    payload bytea NOT NULL,
    record_key bytea,
    published boolean NOT NULL DEFAULT false,
    UNIQUE (topic, event_id)
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (seq) WHERE NOT published;
"""


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


async def make_pool(dsn: str, *, schema: str, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """An asyncpg pool whose connections work in ``schema``; created inside the running loop."""
    return await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, command_timeout=120, server_settings={"search_path": schema}
    )


def migration_files(package: str) -> list[tuple[str, str]]:
    """(version, SQL) of every ``migrations/*.sql`` file shipped in ``package``, in name order."""
    folder = resources.files(package).joinpath("migrations")
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [(f.name.removesuffix(".sql"), f.read_text()) for f in files]


async def migrate(connection: asyncpg.Connection, *, schema: str, package: str) -> list[str]:
    """Apply ``package``'s migrations not yet applied to ``schema``, then make sure the outbox exists; one transaction."""
    import re

    if not re.fullmatch(_SCHEMA_NAME, schema):
        raise ValueError(f"invalid schema name {schema!r}")
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
        for version, sql in migration_files(package):
            if version in done:
                continue
            await connection.execute(sql)
            await connection.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
            applied_now.append(version)
        await connection.execute(OUTBOX_DDL)
    return applied_now


@dataclass(frozen=True)
class OutboxRow:
    """One event waiting in the outbox: its broker topic name and, optionally, an explicit partition."""

    event_id: str
    topic: str
    payload: bytes
    record_key: bytes | None
    partition: int | None = None


def outbox_row(topic_name: str, event: Event, *, partition: int | None = None) -> OutboxRow:
    """The outbox row of ``event`` for the broker topic ``topic_name`` (already prefixed)."""
    key = event.partition_key
    return OutboxRow(event.event_id, topic_name, encode(event), None if key is None else key.encode(), partition)


async def enqueue(connection: asyncpg.Connection, rows: Sequence[OutboxRow]) -> None:
    """Add rows to the outbox inside the caller's transaction; a repeated (topic, event id) is kept once."""
    if rows:
        await connection.executemany(
            "INSERT INTO outbox (event_id, topic, payload, record_key, partition) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (topic, event_id) DO NOTHING",
            [(r.event_id, r.topic, r.payload, r.record_key, r.partition) for r in rows],
        )


def outbox_lock(schema: str) -> int:
    """The advisory lock that serialises the relays of one schema's outbox (any process)."""
    return LOCK_OUTBOX_BASE + sum(schema.encode()) % 4096


async def relay(
    pool: asyncpg.Pool, producer: AIOKafkaProducer | RenewableProducer, *, schema: str, batch: int = 5000
) -> int:
    """Publish pending outbox rows in order, then mark them published; returns how many were sent.

    Publishing happens before the rows are marked, so a crash in between re-sends them:
    consumers are idempotent on event ids.
    """
    sent = 0
    while True:
        async with pool.acquire() as connection, connection.transaction():
            # One relay at a time keeps per-partition order across the API and worker processes.
            await connection.execute("SELECT pg_advisory_xact_lock($1)", outbox_lock(schema))
            rows = await connection.fetch(
                "SELECT seq, topic, partition, payload, record_key FROM outbox WHERE NOT published ORDER BY seq LIMIT $1",
                batch,
            )
            if not rows:
                return sent
            futures = [
                await producer.send(
                    r["topic"],
                    value=bytes(r["payload"]),
                    key=None if r["record_key"] is None else bytes(r["record_key"]),
                    partition=r["partition"],
                )
                for r in rows
            ]
            try:
                await asyncio.gather(*futures)
            except FATAL_PRODUCER_ERRORS:
                if isinstance(producer, RenewableProducer):
                    await producer.renew()  # the rows stay unpublished: the next relay sends them
                raise
            await connection.execute(
                "UPDATE outbox SET published = true WHERE seq = ANY($1::bigint[])", [r["seq"] for r in rows]
            )
            sent += len(rows)
