"""The stream worker: billing's events into the inbox, then the ready ones onto each municipality's book."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer

from energychain_shared.consumer import decode_or_skip, handled, run_streams, serialized
from energychain_shared.kafka import make_consumer
from energychain_shared.outbox import relay

from energychain_escrow import books, inbox, metrics
from energychain_escrow.context import EscrowContext

log = logging.getLogger(__name__)


async def take_in(ctx: EscrowContext, batches: dict) -> int:
    """Take one poll's records into the inbox, partition by partition; returns the billing events kept."""
    kept = 0
    for tp, records in batches.items():
        decoded = decode_or_skip(records, topic=tp.topic, undecodable=metrics.UNDECODABLE, logger=log)
        kept += await inbox.ingest(ctx, tp.topic, tp.partition, decoded)
    metrics.EVENTS.inc(kept)
    return kept


async def run_worker(ctx: EscrowContext, producer: AIOKafkaProducer, stop: asyncio.Event) -> None:
    """Consume until ``stop``: offsets committed after the inbox commit, books advanced after each poll and each second."""
    settings = ctx.settings
    consumer = make_consumer(
        settings, *ctx.input_topics(), group_id=f"{settings.topic_prefix}{settings.escrow_group}",
        client_id="escrow-worker", max_poll_records=settings.escrow_batch,
    )

    async def advance() -> None:
        metrics.MOVEMENTS.inc(await books.process(ctx))
        await relay(ctx.engine, producer, schema=settings.escrow_db_schema)

    step = serialized(advance)
    stream = handled(consumer, lambda batches: take_in(ctx, batches), after=step, what="billing batch")
    await run_streams([stream], stop, every=step)
