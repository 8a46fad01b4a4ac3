"""Stream entry points: the clock consumer (prices, clearing) and the readings consumer (read model, settlement)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from energychain_shared import events, topics
from energychain_shared.kafka import commit_after_effects, make_consumer, pause_unless_stopped, poll_until_stopped
from energychain_shared.pg import relay

from energychain_market import metrics, service

log = logging.getLogger(__name__)

CLOCK_GROUP = "gsa-market-clock"
READINGS_GROUP = "gsa-market-readings"


async def handle_clock_batch(ctx: service.MarketContext, values: list[bytes], *, topic: str) -> datetime | None:
    """Advance the market to the latest simulated time in a batch of clock records."""
    latest = None
    for value in values:
        try:
            event = events.decode(value)
        except events.EventDecodeError as error:
            metrics.UNDECODABLE.labels(topic).inc()
            log.warning("undecodable clock record skipped", extra={"reason": str(error)})
            continue
        if isinstance(event, events.SimulatedClockAdvanced) and (latest is None or event.sim_time > latest):
            latest = event.sim_time
    if latest is not None:
        report = await service.advance_clock(ctx, latest)
        for day, zone, seconds in report.days_cleared:
            metrics.CLEARING_SECONDS.observe(seconds)
            log.info("delivery day cleared", extra={"delivery_day": day.isoformat(), "zone": zone, "seconds": seconds})
    return latest


async def handle_readings_batch(ctx: service.MarketContext, records, *, topic: str) -> int:
    """Write a batch of readings and watermarks to the read model; returns the readings stored."""
    rows: list[service.ReadingRow] = []
    watermarks: dict[int, datetime] = {}
    for record in records:
        try:
            event = events.decode_reading_stream(record.value)
        except events.EventDecodeError as error:
            metrics.UNDECODABLE.labels(topic).inc()
            log.warning("undecodable reading skipped", extra={"reason": str(error), "offset": record.offset})
            continue
        if isinstance(event, events.MeterReadingRecorded):
            rows.append(service.reading_row(event))
        elif isinstance(event, events.ClockWatermarkReached):
            current = watermarks.get(record.partition)
            if current is None or event.sim_time > current:
                watermarks[record.partition] = event.sim_time
    await service.store_readings(ctx.pool, rows, watermarks)
    metrics.READINGS.inc(len(rows))
    return len(rows)


async def _consume(consumer: AIOKafkaConsumer, handle, after, stop: asyncio.Event, *, what: str) -> None:
    async def on_batches(batches) -> None:
        for partition, records in batches.items():
            await handle(partition, records)
        # Offsets only after the batch's effect committed in PostgreSQL.
        await commit_after_effects(consumer)
        await after()

    await consumer.start()
    try:
        await poll_until_stopped(consumer, stop, on_batches, what=what)
    finally:
        await consumer.stop()


async def run_worker(ctx: service.MarketContext, producer: AIOKafkaProducer, stop: asyncio.Event) -> None:
    """Run both consumers and the outbox relay until ``stop`` is set."""
    settings = ctx.settings
    clock_topic = settings.topic(topics.CLOCK)
    readings_topic = settings.topic(topics.METER_READINGS)
    # Groups carry the topic prefix so isolated installations (and test sessions) never share a group.
    clock_consumer = make_consumer(
        settings, clock_topic, group_id=f"{settings.topic_prefix}{CLOCK_GROUP}", client_id="gsa-market-clock"
    )
    readings_consumer = make_consumer(
        settings, readings_topic, group_id=f"{settings.topic_prefix}{READINGS_GROUP}", client_id="gsa-market-readings",
        max_poll_records=settings.market_readings_batch,
    )
    lock = asyncio.Lock()

    async def after() -> None:
        async with lock:  # settle and relay one at a time within this process
            await service.settle_due(ctx)
            await relay(ctx.pool, producer, schema=ctx.settings.market_db_schema)

    async def on_clock(_partition, records) -> None:
        await handle_clock_batch(ctx, [r.value for r in records], topic=clock_topic)

    async def on_readings(_partition, records) -> None:
        await handle_readings_batch(ctx, records, topic=readings_topic)

    async def relay_periodically() -> None:
        while not stop.is_set():
            try:
                await after()
            except Exception:  # the relay retries: the outbox keeps every unpublished event
                log.exception("outbox relay failed; retrying")
            await pause_unless_stopped(stop, 2)

    await asyncio.gather(
        _consume(clock_consumer, on_clock, after, stop, what="clock batch"),
        _consume(readings_consumer, on_readings, after, stop, what="readings batch"),
        relay_periodically(),
    )
