"""Every meter reading lands on its resident's channel once, signed by the ledger, and the channel verifies."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from energychain_ledger.bootstrap import open_ledger
from energychain_ledger.verification import verify_channel
from energychain_shared import events, topics
from energychain_shared.channels import resident_channel
from energychain_shared.kafka import ensure_topics, make_producer

pytestmark = pytest.mark.integration
UTC = timezone.utc


def reading(house: str, start: datetime, home: int) -> events.MeterReadingRecorded:
    return events.MeterReadingRecorded(
        event_id=events.MeterReadingRecorded.id_for(house, start), occurred_at=start + timedelta(hours=1),
        producer="meter-ingest", house_id=house, interval_start=start, solar_wh=0, home_wh=home,
        battery_charged_wh=0, battery_discharged_wh=home, grid_import_wh=0, grid_export_wh=0, battery_level_pct=40,
        imbalance_wh=0, source_file="test.csv", source_line=2,
    )


async def _run_readings_consumer(settings, *, until_entries: int, ids: list[str], timeout: float = 30) -> None:
    ledger = await open_ledger(settings)
    producer = ledger.make_producer()
    await producer.start()
    consumer, loop = ledger.make_readings_consumer(producer=producer)
    await consumer.start()
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            count = await ledger.store.pool.fetchval(
                "SELECT count(*) FROM ledger.entries WHERE entry_id = ANY($1::text[])", ids
            )
            if count >= until_entries:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1)  # anything extra would show up now
    finally:
        stop.set()
        await task
        await consumer.stop()
        await producer.stop()
        await ledger.close()


async def test_each_reading_is_one_verified_entry_on_its_channel_and_redelivery_adds_nothing(ledger_settings):
    settings = ledger_settings.model_copy(update={
        "topic_prefix": f"{ledger_settings.topic_prefix}lr-{uuid.uuid4().hex[:6]}.",
        "ledger_consumer_group": f"ledger-readings-test-{uuid.uuid4().hex[:6]}",
    })
    await ensure_topics(settings, [topics.METER_READINGS, topics.LEDGER_DEAD_LETTERS])
    # A time no other test uses, so these readings are new to the shared test database.
    base = datetime(2031, 1, 1, tzinfo=UTC) + timedelta(hours=uuid.uuid4().int % 100_000)
    readings = [reading(house, base + timedelta(hours=h), 100 * h) for house in ("house-01", "house-02") for h in range(6)]
    producer = make_producer(settings, client_id="ledger-test-meter")
    await producer.start()
    name = settings.topic(topics.METER_READINGS)
    for item in readings + readings[:4]:  # four delivered twice
        await (await producer.send(name, events.encode(item), key=item.house_id.encode()))
    mark = events.ClockWatermarkReached(event_id=str(uuid.uuid4()), occurred_at=base, producer="meter-ingest",
                                        sim_time=base + timedelta(hours=6), partition=0)
    await (await producer.send(name, events.encode(mark), partition=0))
    await producer.stop()
    ids = [events.deterministic_id("ledger-reading", r.event_id) for r in readings]

    await _run_readings_consumer(settings, until_entries=len(readings), ids=ids)
    # The same group again (nothing new), then a new group reading everything from the start.
    await _run_readings_consumer(settings, until_entries=len(readings), ids=ids, timeout=3)
    fresh = settings.model_copy(update={"ledger_consumer_group": f"{settings.ledger_consumer_group}-again"})
    await _run_readings_consumer(fresh, until_entries=len(readings), ids=ids, timeout=10)

    ledger = await open_ledger(settings)
    try:
        rows = await ledger.store.pool.fetch(
            "SELECT entry_id, channel, kind, producer, payload::text AS payload FROM ledger.entries "
            "WHERE entry_id = ANY($1::text[])", ids,
        )
        assert len(rows) == len(readings) and len({r["entry_id"] for r in rows}) == len(readings)
        assert {(r["channel"], r["kind"], r["producer"]) for r in rows} == {
            (resident_channel("house-01"), "meter_reading", "ledger"),
            (resident_channel("house-02"), "meter_reading", "ledger"),
        }
        for house in ("house-01", "house-02"):
            report = await verify_channel(ledger.store, ledger.keys, resident_channel(house))
            assert report.ok, report
    finally:
        await ledger.close()
