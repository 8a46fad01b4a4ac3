"""Fast wire encoding of meter-ingest events.

Readings are encoded from a pre-built template instead of through pydantic, because
model validation per reading would cap the replay far below the broker's speed. The
bytes are the same as ``events.encode`` of the equivalent model (unit-tested), and
they decode with ``events.decode``.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime
from decimal import Decimal

from energychain_shared import events

from energychain_meter_ingest import SERVICE_NAME
from energychain_meter_ingest.domain.readings import Reading, Rejection, hour_start

_PRODUCER = json.dumps(SERVICE_NAME)


def _json_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def deterministic_id_maker(kind: str):
    """A faster ``events.deterministic_id(kind, *key)`` (same uuid5, hashed from a pre-fed prefix)."""
    prefix = hashlib.sha1(events.ID_NAMESPACE.bytes + f"{kind}|".encode())

    def make(*natural_key: object) -> str:
        digest = prefix.copy()
        digest.update("|".join(map(str, natural_key)).encode())
        h = digest.hexdigest()
        # uuid5: version nibble 5, variant bits 10xx (RFC 4122).
        variant = "89ab"[int(h[16], 16) & 0x3]
        return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{variant}{h[17:20]}-{h[20:32]}"

    return make


_reading_id = deterministic_id_maker("MeterReadingRecorded")


def utc_z(epoch: int) -> str:
    """Epoch seconds as pydantic writes a UTC datetime: ``2021-07-01T07:00:00Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


class HourStrings:
    """The per-hour strings every reading of that hour shares."""

    __slots__ = ("hour", "start_z", "end_z", "id_key")

    def __init__(self, hour: int) -> None:
        self.hour = hour
        self.start_z = utc_z(hour)
        self.end_z = utc_z(hour + 3600)
        # MeterReadingRecorded.id_for formats the UTC start with isoformat(): "+00:00".
        self.id_key = hour_start(hour).isoformat()


class ReadingEncoder:
    """Encodes readings to the MeterReadingRecorded wire format with cached per-house/per-hour parts."""

    def __init__(self) -> None:
        self._house_json: dict[str, str] = {}
        self._file_json: dict[str, str] = {}
        self._flags_json: dict[tuple[str, ...], str] = {(): "[]"}

    def encode(self, reading: Reading, hour: HourStrings) -> bytes:
        """Wire bytes of one reading (identical to ``events.encode`` of the model)."""
        house = self._house_json.get(reading.house_id)
        if house is None:
            house = self._house_json[reading.house_id] = _json_str(reading.house_id)
        source = self._file_json.get(reading.source_file)
        if source is None:
            source = self._file_json[reading.source_file] = _json_str(reading.source_file)
        flags = self._flags_json.get(reading.quality_flags)
        if flags is None:
            flags = self._flags_json[reading.quality_flags] = "[" + ",".join(map(_json_str, reading.quality_flags)) + "]"
        level = "null" if reading.battery_level_pct is None else reading.battery_level_pct
        event_id = _reading_id(reading.house_id, hour.id_key)
        return (
            f'{{"event_type":"MeterReadingRecorded","schema_version":1,"event_id":"{event_id}",'
            f'"occurred_at":"{hour.end_z}","producer":{_PRODUCER},"house_id":{house},'
            f'"interval_start":"{hour.start_z}","solar_wh":{reading.solar_wh},"home_wh":{reading.home_wh},'
            f'"battery_charged_wh":{reading.battery_charged_wh},'
            f'"battery_discharged_wh":{reading.battery_discharged_wh},'
            f'"grid_import_wh":{reading.grid_import_wh},"grid_export_wh":{reading.grid_export_wh},'
            f'"battery_level_pct":{level},"imbalance_wh":{reading.imbalance_wh},'
            f'"quality_flags":{flags},"source_file":{source},"source_line":{reading.source_line}}}'
        ).encode()


def reading_event(reading: Reading) -> events.MeterReadingRecorded:
    """The schema model of a reading (the slow, validated path; used by tests and tools)."""
    start = hour_start(reading.hour)
    return events.MeterReadingRecorded(
        event_id=events.MeterReadingRecorded.id_for(reading.house_id, start),
        occurred_at=hour_start(reading.hour + 3600),
        producer=SERVICE_NAME,
        house_id=reading.house_id,
        interval_start=start,
        solar_wh=reading.solar_wh,
        home_wh=reading.home_wh,
        battery_charged_wh=reading.battery_charged_wh,
        battery_discharged_wh=reading.battery_discharged_wh,
        grid_import_wh=reading.grid_import_wh,
        grid_export_wh=reading.grid_export_wh,
        battery_level_pct=reading.battery_level_pct,
        imbalance_wh=reading.imbalance_wh,
        quality_flags=reading.quality_flags,
        source_file=reading.source_file,
        source_line=reading.source_line,
    )


def rejection_event(rejection: Rejection, *, fallback_time: datetime) -> events.MeterReadingRejected:
    """A dead letter; its id is the source position, so re-reading a file dead-letters each row once."""
    occurred = hour_start(rejection.hour + 3600) if rejection.hour is not None else fallback_time
    return events.MeterReadingRejected(
        event_id=events.deterministic_id(
            "MeterReadingRejected", rejection.house_id, rejection.source_file, rejection.source_line
        ),
        occurred_at=occurred,
        producer=SERVICE_NAME,
        source_file=rejection.source_file,
        source_line=rejection.source_line,
        reason=rejection.reason,
        detail=rejection.detail,
        raw=rejection.raw[:4096],
        house_id=rejection.house_id,
    )


def redriven_event(dead_letter_id: str, reading: Reading, *, raw: str, operator: str) -> events.MeterReadingRedriven:
    """The durable mark that a dead letter was resolved by its corrected row's reading (keyed like the dead letter)."""
    return events.MeterReadingRedriven(
        event_id=events.MeterReadingRedriven.id_for(dead_letter_id),
        occurred_at=hour_start(reading.hour + 3600),
        producer=SERVICE_NAME,
        dead_letter_id=dead_letter_id,
        reading_event_id=events.MeterReadingRecorded.id_for(reading.house_id, reading.interval_start),
        house_id=reading.house_id,
        source_file=reading.source_file,
        source_line=reading.source_line,
        raw=raw,
        redriven_by=operator,
    )


def watermark_event(sim_time: int, partition: int) -> events.ClockWatermarkReached:
    """The in-band watermark for one partition of meter.readings."""
    when = hour_start(sim_time)
    return events.ClockWatermarkReached(
        event_id=events.deterministic_id("ClockWatermarkReached", when.isoformat(), partition),
        occurred_at=when,
        producer=SERVICE_NAME,
        sim_time=when,
        partition=partition,
    )


def clock_event(replay_id: str, sim_time: int, speed: Decimal | None) -> events.SimulatedClockAdvanced:
    """The replay's clock tick on the clock topic."""
    when = hour_start(sim_time)
    return events.SimulatedClockAdvanced(
        event_id=events.deterministic_id("SimulatedClockAdvanced", replay_id, when.isoformat()),
        occurred_at=when,
        producer=SERVICE_NAME,
        replay_id=replay_id,
        sim_time=when,
        speed=speed,
    )
