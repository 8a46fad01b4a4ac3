"""Event schemas: round trip, versioning, and clear rejection of bad payloads."""

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from energychain_shared import events
from energychain_shared.events import (
    EventDecodeError,
    InvoiceIssued,
    InvoiceLine,
    LedgerAppendRequested,
    MeterReadingRecorded,
    PaymentReceived,
    ReserveOffered,
    Transfer,
    decode,
    encode,
)

pytestmark = pytest.mark.unit

T0 = datetime(2021, 11, 7, 8, tzinfo=timezone.utc)


def a_reading(**overrides) -> MeterReadingRecorded:
    values = dict(
        event_id=MeterReadingRecorded.id_for("house-01", T0),
        occurred_at=T0 + timedelta(hours=1),
        producer="meter-ingest",
        house_id="house-01",
        interval_start=T0,
        solar_wh=0,
        home_wh=540,
        battery_charged_wh=0,
        battery_discharged_wh=0,
        grid_import_wh=540,
        grid_export_wh=0,
        battery_level_pct=40,
        imbalance_wh=0,
        source_file="house-01.csv",
        source_line=2,
    )
    values.update(overrides)
    return MeterReadingRecorded(**values)


def samples() -> list[events.Event]:
    line = InvoiceLine(number=1, kind="ppa_energy", description="PPA energy", energy_wh=123_456,
                       rate_usd_per_kwh=Decimal("0.2346"), amount_cents=2896)
    return [
        a_reading(),
        InvoiceIssued(
            event_id="inv-1", occurred_at=T0, producer="billing", invoice_id="inv-1", house_id="house-01",
            municipality_id="parlier", period="2021-10", period_start=T0 - timedelta(days=31),
            period_end=T0, due_at=T0 + timedelta(days=21), lines=(line,), total_cents=2896,
        ),
        PaymentReceived(
            event_id="pay-1", occurred_at=T0, producer="billing", payment_id="pay-1", house_id="house-01",
            municipality_id="parlier", invoice_id="inv-1", amount_cents=1000, method="zelle",
        ),
        ReserveOffered(
            event_id="off-1", occurred_at=T0, producer="gsa-market", offer_id="off-1", house_id="house-01",
            municipality_id="parlier", delivery_day=date(2021, 11, 9), reserve_percent=50, energy_wh=1000,
            min_price_usd_per_kwh=Decimal("0.25"),
        ),
    ]


@pytest.mark.parametrize("event", samples(), ids=lambda e: e.event_type)
def test_every_event_round_trips_through_its_wire_encoding(event):
    assert decode(encode(event)) == event


def test_every_registered_event_is_frozen_strict_and_versioned():
    assert len(events.REGISTRY) == len(events.EVENT_CLASSES), "two classes claim one type/version"
    for (event_type, version), cls in events.REGISTRY.items():
        assert cls.__name__ == event_type and version >= 1
        assert cls.model_config["frozen"] and cls.model_config["extra"] == "forbid"


def test_reading_id_is_the_house_and_utc_hour_whatever_the_offset_it_is_given_in():
    local = T0.astimezone(ZoneInfo("America/Los_Angeles"))
    assert MeterReadingRecorded.id_for("house-01", local) == MeterReadingRecorded.id_for("house-01", T0)
    assert MeterReadingRecorded.id_for("house-01", T0) != MeterReadingRecorded.id_for("house-02", T0)


def test_event_times_are_normalised_to_utc():
    local = datetime(2021, 11, 7, 1, tzinfo=ZoneInfo("America/Los_Angeles"), fold=1)
    reading = a_reading(interval_start=local)
    assert reading.interval_start == datetime(2021, 11, 7, 9, tzinfo=timezone.utc)
    assert reading.interval_start.utcoffset() == timedelta(0)


def test_naive_event_time_is_rejected_naming_the_field():
    with pytest.raises(ValueError, match="interval_start"):
        a_reading(interval_start=datetime(2021, 11, 7, 8))


def test_negative_energy_is_rejected_naming_the_field():
    payload = json.loads(encode(a_reading()))
    payload["grid_import_wh"] = -5
    with pytest.raises(EventDecodeError, match=r"MeterReadingRecorded v1: grid_import_wh: .*greater than or equal to 0"):
        decode(json.dumps(payload))


def test_unknown_field_is_rejected_not_silently_dropped():
    payload = json.loads(encode(a_reading()))
    payload["surprise"] = 1
    with pytest.raises(EventDecodeError, match="surprise: Extra inputs are not permitted"):
        decode(json.dumps(payload))


def test_unknown_schema_version_is_rejected_listing_known_versions():
    payload = json.loads(encode(a_reading()))
    payload["schema_version"] = 2
    with pytest.raises(EventDecodeError, match=r"unknown event type/version 'MeterReadingRecorded' v2.*MeterReadingRecorded v1"):
        decode(json.dumps(payload))


@pytest.mark.parametrize("raw, message", [(b"\xff\xfe", "not JSON"), (b"[1, 2]", "JSON object"), (b"{", "not JSON")])
def test_garbage_on_a_topic_is_rejected_with_a_reason(raw, message):
    with pytest.raises(EventDecodeError, match=message):
        decode(raw)


def test_money_fields_reject_floats_with_fractional_cents():
    with pytest.raises(ValueError, match="amount_cents"):
        PaymentReceived(
            event_id="p", occurred_at=T0, producer="billing", payment_id="p", house_id="house-01",
            municipality_id="parlier", invoice_id=None, amount_cents=10.5, method="card",
        )


def test_rates_keep_exact_decimal_values_on_the_wire():
    offer = samples()[3]
    assert json.loads(encode(offer))["min_price_usd_per_kwh"] == "0.25"
    assert decode(encode(offer)).min_price_usd_per_kwh == Decimal("0.25")


def test_ledger_signing_payload_ignores_the_signature_and_covers_the_body():
    request = LedgerAppendRequested(
        event_id="e1", entry_id="e1", occurred_at=T0, producer="billing", channels=("resident:house-01",),
        kind="invoice", body={"total_cents": 10}, transfers=(Transfer(debit_account="a", credit_account="b", amount_cents=10),),
        signature="x",
    )
    same_but_signed = request.model_copy(update={"signature": "y"})
    other_body = request.model_copy(update={"body": {"total_cents": 11}})
    assert request.signing_payload() == same_but_signed.signing_payload()
    assert request.signing_payload() != other_body.signing_payload()


def test_deterministic_ids_depend_on_every_part_of_the_natural_key():
    assert events.deterministic_id("Invoice", "house-01", "2021-10") == events.deterministic_id("Invoice", "house-01", "2021-10")
    assert events.deterministic_id("Invoice", "house-01", "2021-10") != events.deterministic_id("Invoice", "house-01", "2021-11")


def test_the_reading_stream_fast_path_gives_exactly_what_validation_gives_and_refuses_the_same():
    from datetime import timedelta

    start = datetime(2021, 11, 7, 9, tzinfo=timezone.utc)
    reading = events.MeterReadingRecorded(
        event_id=events.MeterReadingRecorded.id_for("house-01", start), occurred_at=start + timedelta(hours=1),
        producer="meter-ingest", house_id="house-01", interval_start=start, solar_wh=0, home_wh=812,
        battery_charged_wh=0, battery_discharged_wh=790, grid_import_wh=22, grid_export_wh=0, battery_level_pct=None,
        imbalance_wh=-3, quality_flags=("unbalanced",), source_file="h.csv", source_line=7,
    )
    raw = events.encode(reading)
    fast = events.decode_reading_stream(raw)
    assert fast == events.decode(raw) == reading and fast.interval_start.tzinfo is not None
    assert fast.model_fields_set == events.decode(raw).model_fields_set
    assert events.encode(fast) == raw and fast.model_dump() == reading.model_dump() and hash(fast) == hash(reading)
    for bad in ({"home_wh": -1}, {"house_id": "a b"}, {"battery_level_pct": 140}, {"source_line": 0},
                {"interval_start": "2021-11-07T09:00:00"}, {"extra": 1}):
        broken = json.loads(raw) | bad
        with pytest.raises(events.EventDecodeError):
            events.decode_reading_stream(json.dumps(broken).encode())
    watermark = events.ClockWatermarkReached(event_id="w", occurred_at=start, producer="meter-ingest",
                                             sim_time=start, partition=3)
    assert events.decode_reading_stream(events.encode(watermark)) == watermark
