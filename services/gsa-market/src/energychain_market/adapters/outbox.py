"""Transactional outbox: events are written with the state that decided them and published after commit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import asyncpg
from aiokafka import AIOKafkaProducer

from energychain_shared.events import Event, encode
from energychain_shared.settings import CommonSettings
from energychain_shared.topics import Topic

from energychain_market.adapters.database import LOCK_OUTBOX

log = logging.getLogger(__name__)


def outbox_row(settings: CommonSettings, topic: Topic, event: Event) -> tuple[str, str, bytes, bytes | None]:
    """The outbox row of one event: (event_id, broker topic name, payload, record key)."""
    key = event.partition_key
    return (event.event_id, settings.topic(topic), encode(event), None if key is None else key.encode())


async def enqueue(connection: asyncpg.Connection, rows: Sequence[tuple[str, str, bytes, bytes | None]]) -> None:
    """Add rows to the outbox inside the caller's transaction (a redelivered event id is kept once)."""
    if rows:
        await connection.executemany(
            "INSERT INTO outbox (event_id, topic, payload, record_key) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (topic, event_id) DO NOTHING",
            rows,
        )


async def relay(pool: asyncpg.Pool, producer: AIOKafkaProducer, *, batch: int = 2000) -> int:
    """Publish pending outbox rows in order and mark them published; returns how many were sent."""
    sent = 0
    while True:
        async with pool.acquire() as connection, connection.transaction():
            # One relay at a time keeps per-key order across the API and worker processes.
            await connection.execute("SELECT pg_advisory_xact_lock($1)", LOCK_OUTBOX)
            rows = await connection.fetch(
                "SELECT seq, topic, payload, record_key FROM outbox WHERE NOT published "
                "ORDER BY seq LIMIT $1",
                batch,
            )
            if not rows:
                return sent
            futures = [
                await producer.send(r["topic"], value=bytes(r["payload"]), key=None if r["record_key"] is None else bytes(r["record_key"]))
                for r in rows
            ]
            await asyncio.gather(*futures)
            await connection.execute(
                "UPDATE outbox SET published = true WHERE seq = ANY($1::bigint[])", [r["seq"] for r in rows]
            )
            sent += len(rows)
