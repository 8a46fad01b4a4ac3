"""Stream entry points: the clock consumer (prices, clearing) and the readings consumer (read model, settlement).

After every batch, and every 2 s while nothing arrives, the worker settles what the meter
watermark allows and then relays the outbox; the two steps run one at a time.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from aiokafka import AIOKafkaProducer

from energychain_shared import events, topics
from energychain_shared.consumer import decode_or_skip, handled, run_streams, serialized
from energychain_shared.kafka import make_consumer
from energychain_shared.outbox import relay

from energychain_market import clock, metrics, readings, settlement
from energychain_market.context import MarketContext

log = logging.getLogger(__name__)

CLOCK_GROUP = "gsa-market-clock"
READINGS_GROUP = "gsa-market-readings"
RELAY_EVERY_S = 2


async def handle_clock_batches(ctx: MarketContext, batches: dict, *, topic: str) -> datetime | None:
    """Advance the market to the latest simulated time in a poll's clock records."""
    latest = None
    for records in batches.values():
        for event in decode_or_skip(records, topic=topic, undecodable=metrics.UNDECODABLE, logger=log):
            if isinstance(event, events.SimulatedClockAdvanced) and (latest is None or event.sim_time > latest):
                latest = event.sim_time
    if latest is not None:
        report = await clock.advance_clock(ctx, latest)
        for day, zone, seconds in report.days_cleared:
            metrics.CLEARING_SECONDS.observe(seconds)
            log.info("delivery day cleared", extra={"delivery_day": day.isoformat(), "zone": zone, "seconds": seconds})
    return latest


async def handle_readings_batches(ctx: MarketContext, batches: dict, *, topic: str) -> int:
    """Write a poll's readings and watermarks to the read model in one commit; returns the readings stored."""
    decoded = [
        (partition.partition, decode_or_skip(
            records, topic=topic, undecodable=metrics.UNDECODABLE, logger=log, decode=events.decode_reading_stream,
        ))
        for partition, records in batches.items()
    ]
    rows, watermarks = readings.rows_and_watermarks(decoded)
    await readings.store_readings(ctx, rows, watermarks)
    return len(rows)


async def run_worker(ctx: MarketContext, producer: AIOKafkaProducer, stop: asyncio.Event) -> None:
    """Run both consumers, settlement and the outbox relay until ``stop`` is set."""
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

    async def settle_then_relay() -> None:
        await settlement.settle_due(ctx)
        await relay(ctx.engine, producer, schema=settings.market_db_schema)

    after = serialized(settle_then_relay)

    async def on_clock(batches: dict) -> None:
        await handle_clock_batches(ctx, batches, topic=clock_topic)

    async def on_readings(batches: dict) -> None:
        await handle_readings_batches(ctx, batches, topic=readings_topic)

    await run_streams(
        [
            handled(clock_consumer, on_clock, after=after, what="clock batch"),
            handled(readings_consumer, on_readings, after=after, what="readings batch"),
        ],
        stop, every=after, every_s=RELAY_EVERY_S,
    )
