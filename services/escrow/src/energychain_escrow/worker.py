"""The stream worker: billing's events into the inbox, then the ready ones onto each municipality's book."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer

from energychain_shared import events
from energychain_shared.kafka import make_consumer
from energychain_shared.pg import relay
from energychain_shared.service_cli import consume_and_relay

from energychain_escrow import metrics, service

log = logging.getLogger(__name__)


async def handle(ctx: service.EscrowContext, batches: dict) -> int:
    """Take one poll's records in, partition by partition; returns the billing events kept."""
    kept = 0
    for tp, records in batches.items():
        decoded = []
        for record in records:
            try:
                decoded.append(events.decode(record.value))
            except events.EventDecodeError as error:
                metrics.UNDECODABLE.labels(tp.topic).inc()
                log.warning("undecodable record skipped", extra={"topic": tp.topic, "reason": str(error)})
        kept += await service.ingest(ctx, tp.topic, tp.partition, decoded)
    metrics.EVENTS.inc(kept)
    return kept


async def run_worker(ctx: service.EscrowContext, producer: AIOKafkaProducer, stop: asyncio.Event) -> None:
    """Consume until ``stop``; offsets are committed after the inbox commit; books advance after each poll."""
    settings = ctx.settings
    consumer = make_consumer(
        settings, *ctx.input_topics(), group_id=f"{settings.topic_prefix}{settings.escrow_group}",
        client_id="escrow-worker", max_poll_records=settings.escrow_batch,
    )

    async def advance() -> None:
        metrics.MOVEMENTS.inc(await service.process(ctx))
        await relay(ctx.pool, producer, schema=settings.escrow_db_schema)

    await consume_and_relay(consumer, stop=stop, handle=lambda batches: handle(ctx, batches), after=advance, log=log)
