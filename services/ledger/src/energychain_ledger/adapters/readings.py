"""Meter readings onto the ledger: each reading taken off meter.readings becomes one leaf of its resident's channel tree.

The hot path of the whole pipeline, so it does the least a reading needs: parse it, check
the fields its entry is made of, and build the canonical entry bytes with orjson (sorted
keys, the same bytes as ``rules.canonical_json``: unit-tested). No signature per reading:
the checkpoint signed after the batch covers every leaf of it. The entry id is the
reading's own event id (a redelivered or replayed reading is the same entry), and the batch
goes through the same ``AppendProcessor.persist`` transaction as every other append.

What a reading entry's authenticity rests on (README "Trust model"): meter-ingest is the
only producer allowed on meter.readings; the ledger records what it took off that topic,
names `meter-ingest` as the entry's producer, and from then on the log makes the record
tamper-evident. A reading is not signed by meter-ingest.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any
from datetime import datetime, timedelta, timezone

import orjson
from aiokafka.structs import ConsumerRecord

from energychain_ledger import metrics
from energychain_ledger.adapters.consumer import AppendProcessor, BatchOutcome, PreparedBatch
from energychain_ledger.domain.appends import Append
from energychain_shared import rules
from energychain_shared.channels import resident_channel

log = logging.getLogger(__name__)
PRODUCER = "meter-ingest"
KIND = "meter_reading"
_SORTED = orjson.OPT_SORT_KEYS


class UnreadableReading(ValueError):
    """A record on meter.readings that is not a reading the ledger can record."""


class ReadingEntries:
    """Builds reading entries, caching what every reading of one hour or one house shares."""

    def __init__(self) -> None:
        self._hours: dict[str, tuple[bytes, datetime]] = {}
        self._channels: dict[str, tuple[str, bytes]] = {}

    def interval_end(self, interval_start: str) -> tuple[bytes, datetime]:
        """The end of the metered hour as the entry writes it (``"...Z"``, JSON) and as a datetime."""
        start = datetime.fromisoformat(interval_start.replace("Z", "+00:00"))
        if start.tzinfo is None:
            raise UnreadableReading(f"interval_start {interval_start!r} has no time zone")
        end = start.astimezone(timezone.utc) + timedelta(hours=1)
        known = self._hours[interval_start] = (orjson.dumps(end.strftime("%Y-%m-%dT%H:%M:%SZ")), end)
        return known

    def append(self, reading: dict) -> Append:
        """The entry of one parsed reading on its resident's channel (no transfers, no signature).

        The bytes are the canonical JSON of ``{"body", "channels", "entry_id", "kind", "occurred_at",
        "producer", "transfers"}`` put together from cached parts: the keys are in sorted order and
        every string goes through orjson, so they equal ``rules.canonical_json`` (unit-tested).
        """
        try:
            house, event_id, start = reading["house_id"], reading["event_id"], reading["interval_start"]
        except KeyError as error:
            raise UnreadableReading(f"reading without {error.args[0]}") from None
        if not (type(house) is str and type(event_id) is str and type(start) is str) or not 0 < len(event_id) <= 64:
            raise UnreadableReading("house_id, event_id and interval_start must be strings")
        channel = self._channels.get(house)
        if channel is None:
            name = resident_channel(house)
            channel = self._channels[house] = (name, b',"channels":[' + orjson.dumps(name) + b'],"entry_id":')
        hour = self._hours.get(start) or self.interval_end(start)
        entry = b"".join((
            b'{"body":', orjson.dumps(reading, option=_SORTED), channel[1], orjson.dumps(event_id),
            b',"kind":"meter_reading","occurred_at":', hour[0], b',"producer":"meter-ingest","transfers":[]}',
        ))
        # No request: a dead letter for this entry (its id recorded with another body) shows the
        # entry's own content, read back from its bytes.
        return Append(entry_id=event_id, channels=(channel[0],), kind=KIND, event_time=hour[1], producer=PRODUCER,
                      entry=entry, signature="", transfers=())


class ReadingProcessor:
    """Turns one poll of meter.readings into one append batch; persists it through the append path."""

    def __init__(
        self, *, appends: AppendProcessor, houses: Callable[[], Collection[str]],
        sync_registry: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        self._appends = appends
        self._houses = houses  # the registered houses as of now (the live registry's)
        self._sync_registry = sync_registry
        self._entries = ReadingEntries()

    async def process(self, records: Sequence[ConsumerRecord]) -> BatchOutcome:
        """Prepare and persist one poll."""
        return await self.persist(await self.prepare(records))

    async def prepare(self, records: Sequence[ConsumerRecord], *, synced: bool = False) -> PreparedBatch:
        """Parse the poll's readings into entries (watermarks ignored, unknown houses skipped).

        A house the registry does not know makes it read the registry topic to its end once,
        then the poll is parsed again (the house may have been enrolled since the last read).
        """
        batch = PreparedBatch(now=datetime.now(timezone.utc))
        unknown: Counter[str] = Counter()
        undecodable = 0
        houses, build, appends = self._houses(), self._entries.append, batch.appends
        for record in records:
            raw = record.value or b""
            try:
                reading = orjson.loads(raw)
                if not isinstance(reading, dict) or reading.get("schema_version") != 1:
                    raise UnreadableReading("not a version-1 event")
                event_type = reading.get("event_type")
                if event_type != "MeterReadingRecorded":
                    if event_type == "ClockWatermarkReached":
                        continue
                    raise UnreadableReading(f"event_type {event_type!r} does not belong on meter.readings")
                if reading.get("house_id") not in houses:
                    unknown[str(reading.get("house_id"))] += 1
                    continue
                append = build(reading)
            except (orjson.JSONDecodeError, UnreadableReading, ValueError) as error:
                # meter-ingest validated what it published; anything else here is not a reading.
                undecodable += 1
                log.warning("unreadable record on meter.readings skipped",
                            extra={"partition": record.partition, "offset": record.offset, "reason": str(error)})
                continue
            batch.raw_of[id(append)] = raw
            appends.append(append)
        if unknown and not synced and self._sync_registry is not None and await self._sync_registry():
            return await self.prepare(records, synced=True)
        if undecodable:
            metrics.READINGS.labels("undecodable").inc(undecodable)
        if unknown:
            # meter-ingest dead-letters these already; one line per poll, not one per reading.
            metrics.READINGS.labels("unknown_house").inc(sum(unknown.values()))
            log.warning("readings of houses unknown to the registry skipped",
                        extra={"houses": dict(unknown), "skipped": sum(unknown.values())})
        return batch

    async def persist(self, batch: PreparedBatch) -> BatchOutcome:
        """One transaction for the poll's entries; a redelivered reading is a duplicate, never a second entry."""
        outcome = await self._appends.persist(batch)
        metrics.READINGS.labels("recorded").inc(outcome.appended)
        metrics.READINGS.labels("duplicate").inc(outcome.duplicates)
        conflicts = len(outcome.rejected) - len(batch.rejected)
        if conflicts:
            metrics.READINGS.labels("conflicting_entry").inc(conflicts)
        return outcome
