"""The stream worker: meter readings and their watermarks (invoices, past due) and trade settlements."""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaProducer

from energychain_shared import events, topics
from energychain_shared.consumer import decode_or_skip, handled, run_streams, serialized
from energychain_shared.kafka import make_consumer
from energychain_shared.outbox import relay

from energychain_billing import metrics
from energychain_billing.context import BillingContext
from energychain_billing.readings import apply_readings_batch, record_trade_settlements

log = logging.getLogger(__name__)


async def handle(ctx: BillingContext, batches: dict) -> int:
    """Apply one poll's records partition by partition; returns the readings recorded."""
    readings_topic = ctx.settings.topic(topics.METER_READINGS)
    recorded = 0
    for tp, records in batches.items():
        decoded = decode_or_skip(
            records, topic=tp.topic, undecodable=metrics.UNDECODABLE, logger=log, decode=events.decode_reading_stream
        )
        if tp.topic == readings_topic:
            started = time.perf_counter()
            report = await apply_readings_batch(ctx, tp.partition, decoded)
            metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
            metrics.READINGS.inc(report.readings)
            metrics.UNKNOWN_HOUSES.inc(report.unknown_houses)
            metrics.INVOICES.inc(len(report.invoices))
            metrics.PAST_DUE.inc(len(report.past_due))
            recorded += report.readings
        else:
            await record_trade_settlements(ctx, [e for e in decoded if isinstance(e, events.TradeSettled)])
    return recorded


async def run_worker(ctx: BillingContext, producer: AIOKafkaProducer, stop: asyncio.Event) -> None:
    """Consume until ``stop`` is set; offsets are committed only after PostgreSQL committed the batch."""
    settings = ctx.settings
    consumer = make_consumer(
        settings, settings.topic(topics.METER_READINGS), settings.topic(topics.SETTLEMENTS),
        group_id=f"{settings.topic_prefix}{settings.billing_group}", client_id="billing-worker",
        max_poll_records=settings.billing_readings_batch,
    )
    publish = serialized(lambda: relay(ctx.engine, producer, schema=settings.billing_db_schema))
    stream = handled(consumer, lambda batches: handle(ctx, batches), after=publish, what="billing batch")
    await run_streams([stream], stop, every=publish, every_s=1.0)
