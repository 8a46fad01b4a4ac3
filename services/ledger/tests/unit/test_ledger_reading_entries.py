"""A meter reading becomes one entry on its resident's channel, canonical bytes and all; non-readings are not recorded."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from aiokafka.structs import ConsumerRecord

from energychain_ledger.adapters.readings import KIND, PRODUCER, ReadingEntries, ReadingProcessor, UnreadableReading
from energychain_shared import events, rules

pytestmark = pytest.mark.unit
START = datetime(2024, 7, 1, 7, tzinfo=timezone.utc)


def _reading(house: str = "house-01", start: datetime = START, home: int = 900) -> events.MeterReadingRecorded:
    return events.MeterReadingRecorded(
        event_id=events.MeterReadingRecorded.id_for(house, start), occurred_at=start + timedelta(hours=1),
        producer="meter-ingest", house_id=house, interval_start=start, solar_wh=1200, home_wh=home,
        battery_charged_wh=300, battery_discharged_wh=0, grid_import_wh=0, grid_export_wh=1200 - home - 300,
        battery_level_pct=55, imbalance_wh=0, quality_flags=("estimated",), source_file="maison-été.csv", source_line=9,
    )


def _entry(reading: events.MeterReadingRecorded):
    return ReadingEntries().append(json.loads(events.encode(reading)))


def test_reading_entry_is_on_the_resident_channel_at_interval_end_with_the_reading_as_body_and_no_transfers():
    reading = _reading()
    append = _entry(reading)
    assert append.channels == ("resident:house-01",) and append.kind == KIND and append.producer == PRODUCER
    assert append.event_time == reading.interval_end and append.transfers == () and append.signature == ""
    content = json.loads(append.entry)
    assert content["body"] == json.loads(events.encode(reading))
    assert content["occurred_at"] == "2024-07-01T08:00:00Z" and content["transfers"] == []


@pytest.mark.parametrize("start", [START, datetime(2021, 11, 7, 8, tzinfo=timezone.utc),  # the fall-back hour
                                   datetime(2022, 3, 13, 9, 30, tzinfo=timezone.utc)])
def test_reading_entry_bytes_are_the_canonical_json_every_producer_signs(start):
    """The fast path (orjson) gives byte for byte what LedgerAppendRequested.signing_payload() gives."""
    reading = _reading(start=start)
    append = _entry(reading)
    request = events.LedgerAppendRequested(
        event_id=reading.event_id, entry_id=reading.event_id, occurred_at=reading.interval_end, producer=PRODUCER,
        channels=("resident:house-01",), kind=KIND, body=json.loads(events.encode(reading)), signature="",
    )
    assert append.entry == request.signing_payload() == rules.canonical_json(json.loads(append.entry))


def test_reading_entry_id_is_the_reading_id_so_redelivery_is_the_same_entry():
    first, again = _entry(_reading()), _entry(_reading())
    assert first.entry_id == again.entry_id == _reading().event_id and first.entry == again.entry
    assert _entry(_reading(home=800)).entry != first.entry


def test_a_reading_without_its_identity_is_unreadable():
    body = json.loads(events.encode(_reading()))
    del body["interval_start"]
    with pytest.raises(UnreadableReading, match="interval_start"):
        ReadingEntries().append(body)


def _record(event: events.Event | bytes, offset: int) -> ConsumerRecord:
    value = event if isinstance(event, bytes) else events.encode(event)
    return ConsumerRecord(topic="meter.readings", partition=0, offset=offset, timestamp=0, timestamp_type=0,
                          key=None, value=value, checksum=None, serialized_key_size=0,
                          serialized_value_size=len(value), headers=())


async def test_only_readings_of_registered_houses_become_entries_watermarks_and_garbage_are_skipped():
    processor = ReadingProcessor(appends=None, houses=lambda: {"house-01", "house-02"})  # type: ignore[arg-type]
    watermark = events.ClockWatermarkReached(event_id=str(uuid.uuid4()), occurred_at=START, producer="meter-ingest",
                                             sim_time=START, partition=0)
    records = [
        _record(_reading("house-01"), 0), _record(watermark, 1), _record(_reading("house-99"), 2),
        _record(b"not json", 3), _record(_reading("house-02"), 4),
    ]
    batch = await processor.prepare(records)
    assert [a.channels for a in batch.appends] == [("resident:house-01",), ("resident:house-02",)]
    assert [batch.raw_of[id(a)] for a in batch.appends] == [records[0].value, records[4].value]
    assert batch.rejected == []
