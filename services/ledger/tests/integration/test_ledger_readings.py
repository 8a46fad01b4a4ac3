"""Every meter reading lands on its resident's channel tree once, covered by a signed checkpoint, and the channel verifies."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from aiokafka import TopicPartition
from prometheus_client import REGISTRY

from energychain_ledger.bootstrap import Ledger, open_ledger
from energychain_ledger.verification import verify_channel
from energychain_shared import events, rules, topics
from energychain_shared.channels import resident_channel
from energychain_shared.kafka import ensure_topics, make_consumer, make_producer

pytestmark = pytest.mark.integration
UTC = timezone.utc
HOUSES = ("house-01", "house-02", "house-03")


def _reading(house: str, start: datetime, home: int) -> events.MeterReadingRecorded:
    return events.MeterReadingRecorded(
        event_id=events.MeterReadingRecorded.id_for(house, start), occurred_at=start + timedelta(hours=1),
        producer="meter-ingest", house_id=house, interval_start=start, solar_wh=0, home_wh=home,
        battery_charged_wh=0, battery_discharged_wh=home, grid_import_wh=0, grid_export_wh=0, battery_level_pct=40,
        imbalance_wh=0, source_file="test.csv", source_line=2,
    )


async def _publish(settings, items: list[events.Event], *, watermark_at: datetime | None = None) -> None:
    producer = make_producer(settings, client_id="ledger-test-meter")
    await producer.start()
    try:
        name = settings.topic(topics.METER_READINGS)
        sent = [await producer.send(name, events.encode(item), key=item.house_id.encode()) for item in items]
        if watermark_at is not None:  # in-band on every partition, as meter-ingest does
            for partition in range(topics.METER_READINGS.partitions):
                mark = events.ClockWatermarkReached(
                    event_id=str(uuid.uuid4()), occurred_at=watermark_at, producer="meter-ingest",
                    sim_time=watermark_at, partition=partition,
                )
                sent.append(await producer.send(name, events.encode(mark), partition=partition))
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def _consume_all(ledger: Ledger, *, group_id: str, timeout: float = 20) -> int:
    """Run one readings consumer instance until its group's committed offsets reach the topic's end."""
    producer = ledger.make_producer(client_id="ledger-test-readings-dlq")
    await producer.start()
    consumer, loop = ledger.make_readings_consumer(producer=producer, group_id=group_id)
    await consumer.start()
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    name = ledger.settings.topic(topics.METER_READINGS)
    partitions = [TopicPartition(name, p) for p in range(topics.METER_READINGS.partitions)]
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            assert asyncio.get_running_loop().time() < deadline, "readings not consumed in time"
            assert not task.done(), task.exception() if task.done() else None
            if len(consumer.assignment()) == len(partitions):
                ends = await consumer.end_offsets(partitions)
                committed = [await consumer.committed(tp) or 0 for tp in partitions]
                if committed == [ends[tp] for tp in partitions]:
                    break
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await task
        await consumer.stop()
        await producer.stop()
    return loop.appended


async def _dead_letters(settings, entry_id: str, *, timeout: float = 10) -> list[events.LedgerAppendRejected]:
    consumer = make_consumer(settings, settings.topic(topics.LEDGER_DEAD_LETTERS), group_id=None,
                             client_id="ledger-test-readings-dlq-reader")
    await consumer.start()
    found: list[events.LedgerAppendRejected] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while not found and asyncio.get_running_loop().time() < deadline:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                found += [e for e in map(events.decode, (r.value for r in batch)) if e.entry_id == entry_id]
    finally:
        await consumer.stop()
    return found


def _unknown_house_count() -> float:
    return REGISTRY.get_sample_value("ledger_readings_total", {"outcome": "unknown_house"}) or 0.0


async def test_each_reading_is_one_verified_ledger_entry_and_redelivery_restart_and_replay_add_nothing(
    ledger_settings,
):
    suffix = uuid.uuid4().hex[:8]
    settings = ledger_settings.model_copy(update={"topic_prefix": f"{ledger_settings.topic_prefix}lr{suffix}."})
    await ensure_topics(settings, [topics.METER_READINGS, topics.LEDGER_DEAD_LETTERS, topics.LEDGER_CHECKPOINTS])
    # An hour no other run uses, so these reading ids are new to the shared test database.
    base = datetime(2040, 1, 1, tzinfo=UTC) + timedelta(hours=uuid.uuid4().int % 500_000)
    readings = [_reading(h, base + timedelta(hours=i), 100 * (i + 1)) for h in HOUSES for i in range(4)]
    stranger = _reading("house-not-registered", base, 100)
    await _publish(settings, readings + readings[:4] + [stranger], watermark_at=base + timedelta(hours=4))
    ids = [r.event_id for r in readings]
    unknown_before = _unknown_house_count()

    ledger = await open_ledger(settings, writer=True)
    try:
        group = f"{settings.topic_prefix}ledger-readings"
        assert await _consume_all(ledger, group_id=group) == len(readings)
        # The same reading re-ingested with other values: the ledger keeps the first, dead-letters this one.
        tampered = readings[0].model_copy(update={"home_wh": 7, "battery_discharged_wh": 7})
        await _publish(settings, [tampered])
        assert await _consume_all(ledger, group_id=group) == 0  # restart: a new instance in the same group
        assert await _consume_all(ledger, group_id=f"{group}-replay") == 0  # a new group from offset 0

        rows = [row for entry_id in ids + [stranger.event_id] for row in await ledger.store.entry_rows(entry_id)]
        by_id = {r.entry_id: r for r in rows}
        assert len(rows) == len(readings) and by_id.keys() == set(ids)
        for reading in readings:
            row = by_id[reading.event_id]
            content = json.loads(row.entry)
            assert (row.channel, row.kind, content["producer"], row.signature) == (
                resident_channel(reading.house_id), "meter_reading", "meter-ingest", "")
            assert row.event_time == reading.interval_end
            # The reading as meter-ingest published it is the entry's body, canonical JSON and all.
            assert content["body"] == json.loads(events.encode(reading))
            assert row.entry == rules.canonical_json(content)
        keys = await ledger.log_keys()
        for house in HOUSES:
            report = await verify_channel(ledger.store, ledger.keys, resident_channel(house), log_keys=keys)
            assert report.ok, report.problems
            assert report.checkpoint is not None  # the channel's newest head is proved in a signed checkpoint
        assert _unknown_house_count() - unknown_before == 2  # first group and the replay group each skipped it
    finally:
        await ledger.close()

    (letter, *_) = await _dead_letters(settings, ids[0])
    assert letter.reason == "conflicting_entry" and letter.request["body"]["home_wh"] == 7
