"""The stream worker: meter readings and their watermarks (invoices, past due) and trade settlements."""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaProducer

from energychain_shared import events, topics
from energychain_shared.kafka import make_consumer
from energychain_shared.pg import relay
from energychain_shared.service_cli import consume_and_relay

from energychain_billing import metrics, service

log = logging.getLogger(__name__)


def _decode(record, topic: str) -> events.Event | None:
    try:
        return events.decode_reading_stream(record.value)
    except events.EventDecodeError as error:
        metrics.UNDECODABLE.labels(topic).inc()
        log.warning("undecodable record skipped", extra={"topic": topic, "offset": record.offset, "reason": str(error)})
        return None


async def handle(ctx: service.BillingContext, batches: dict) -> int:
    """Apply one poll's records partition by partition; returns the readings recorded."""
    readings_topic = ctx.settings.topic(topics.METER_READINGS)
    recorded = 0
    for tp, records in batches.items():
        decoded = [e for e in (_decode(r, tp.topic) for r in records) if e is not None]
        if tp.topic == readings_topic:
            started = time.perf_counter()
            report = await service.apply_readings_batch(ctx, tp.partition, decoded)
            metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
            metrics.READINGS.inc(report.readings)
            metrics.UNKNOWN_HOUSES.inc(report.unknown_houses)
            metrics.INVOICES.inc(len(report.invoices))
            metrics.PAST_DUE.inc(len(report.past_due))
            recorded += report.readings
            for invoice_id in report.invoices:
                log.debug("invoice issued", extra={"invoice_id": invoice_id})
        else:
            await service.record_trade_settlements(ctx, [e for e in decoded if isinstance(e, events.TradeSettled)])
    return recorded


async def run_worker(ctx: service.BillingContext, producer: AIOKafkaProducer, stop: asyncio.Event) -> None:
    """Consume until ``stop`` is set; offsets are committed only after PostgreSQL committed the batch."""
    settings = ctx.settings
    consumer = make_consumer(
        settings, settings.topic(topics.METER_READINGS), settings.topic(topics.SETTLEMENTS),
        group_id=f"{settings.topic_prefix}{settings.billing_group}", client_id="billing-worker",
        max_poll_records=settings.billing_readings_batch,
    )

    async def publish() -> None:
        await relay(ctx.pool, producer, schema=settings.billing_db_schema)

    await consume_and_relay(consumer, stop=stop, handle=lambda batches: handle(ctx, batches), after=publish, log=log)
