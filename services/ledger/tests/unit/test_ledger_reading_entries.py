"""A meter reading becomes one ledger-signed entry on its resident's channel; non-readings are not recorded."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from aiokafka.structs import ConsumerRecord
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from energychain_ledger.adapters.readings import KIND, ReadingProcessor, reading_append, reading_entry_id, reading_signer
from energychain_ledger.adapters.signatures import SignatureVerifier
from energychain_ledger.domain.appends import plan_batch, Head
from energychain_ledger.domain.chain import GENESIS_HASH
from energychain_ledger.verification import signature_checker
from energychain_shared import events
from energychain_shared.ledger_client import signed_append

pytestmark = pytest.mark.unit
START = datetime(2024, 7, 1, 7, tzinfo=timezone.utc)


def _reading(house: str = "house-01", start: datetime = START, home: int = 900) -> events.MeterReadingRecorded:
    return events.MeterReadingRecorded(
        event_id=events.MeterReadingRecorded.id_for(house, start), occurred_at=start + timedelta(hours=1),
        producer="meter-ingest", house_id=house, interval_start=start, solar_wh=1200, home_wh=home,
        battery_charged_wh=300, battery_discharged_wh=0, grid_import_wh=0, grid_export_wh=1200 - home - 300,
        battery_level_pct=55, imbalance_wh=0, quality_flags=("estimated",), source_file="house-01.csv", source_line=9,
    )


def _record(event: events.Event | bytes, offset: int) -> ConsumerRecord:
    value = event if isinstance(event, bytes) else events.encode(event)
    return ConsumerRecord(topic="meter.readings", partition=0, offset=offset, timestamp=0, timestamp_type=0,
                          key=None, value=value, checksum=None, serialized_key_size=0,
                          serialized_value_size=len(value), headers=())


def test_reading_entry_is_on_the_resident_channel_at_interval_end_with_the_reading_fields_and_no_transfers():
    reading = _reading()
    append = reading_append(reading_signer(Ed25519PrivateKey.generate()), reading)
    assert append.channels == ("resident:house-01",)
    assert append.kind == KIND == "meter_reading"
    assert append.producer == "ledger"
    assert append.event_time == START + timedelta(hours=1)
    assert append.transfers == ()
    expected = reading.model_dump(mode="json")
    del expected["event_type"], expected["schema_version"]
    assert dict(append.payload) == expected


def test_reading_entry_id_derives_from_the_reading_id_so_redelivery_is_the_same_entry():
    key = reading_signer(Ed25519PrivateKey.generate())
    first, again = reading_append(key, _reading()), reading_append(key, _reading())
    assert first.entry_id == reading_entry_id(_reading().event_id) == again.entry_id
    assert (first.digest, first.signature) == (again.digest, again.signature)
    other_hour = reading_append(key, _reading(start=START + timedelta(hours=1)))
    assert other_hour.entry_id != first.entry_id
    changed = reading_append(key, _reading(home=800))
    assert changed.entry_id == first.entry_id and changed.digest != first.digest  # a conflict, never an overwrite


def test_reading_entry_signature_verifies_with_the_ledger_key_once_chained_and_fails_with_another_key():
    key = Ed25519PrivateKey.generate()
    append = reading_append(reading_signer(key), _reading())
    plan = plan_batch([append], heads={"resident:house-01": Head(0, GENESIS_HASH)}, existing_digests={})
    (row,) = plan.rows
    assert signature_checker({"ledger": [SignatureVerifier(key.public_key())]})(row)
    assert not signature_checker({"ledger": [SignatureVerifier(Ed25519PrivateKey.generate().public_key())]})(row)


@pytest.mark.parametrize("start", [START, datetime(2022, 11, 6, 9, 0, tzinfo=timezone.utc)])
def test_reading_entry_signs_exactly_the_payload_and_signature_every_producer_makes_with_signed_append(start):
    key = Ed25519PrivateKey.generate()
    reading = _reading(start=start)
    append = reading_append(reading_signer(key), reading)
    request = signed_append(key=key, producer="ledger", entry_id=append.entry_id, channels=append.channels, kind=KIND,
                            occurred_at=reading.interval_end,
                            body=reading.model_dump(mode="json", exclude={"event_type", "schema_version"}))
    assert append.signature == request.signature
    assert append.digest == hashlib.sha256(request.signing_payload()).hexdigest()
    assert dict(append.payload) == request.body


async def test_only_readings_of_registered_houses_become_entries_watermarks_and_garbage_are_skipped():
    processor = ReadingProcessor(appends=None, key=Ed25519PrivateKey.generate(),  # type: ignore[arg-type]
                                 houses={"house-01", "house-02"})
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
