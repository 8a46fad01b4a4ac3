"""Meter readings onto the ledger: each reading taken off meter.readings becomes one entry on its resident's channel.

The ledger attests what it took off the broker: the entry is signed with the ledger's own
service key through the same ``signed_append`` helper every producer uses (so channel
verification checks it like any other entry), its id derives from the reading's event id
(a redelivered reading is the same entry and is appended once), and the batch goes through
the same ``AppendProcessor.persist`` transaction as every other append.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Collection, Sequence
from datetime import datetime, timezone

from aiokafka.structs import ConsumerRecord
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from energychain_ledger import metrics
from energychain_ledger.adapters.consumer import AppendProcessor, BatchOutcome, PreparedBatch
from energychain_ledger.domain.appends import Append
from energychain_shared import events
from energychain_shared.channels import resident_channel
from energychain_shared.ledger_client import signed_append

log = logging.getLogger(__name__)
SIGNER = "ledger"
KIND = "meter_reading"
_NOT_IN_BODY = frozenset({"event_type", "schema_version"})


def reading_entry_id(reading_event_id: str) -> str:
    """The ledger entry id of a reading: deterministic, so redelivery names the same entry."""
    return events.deterministic_id("ledger-reading", reading_event_id)


def reading_append(key: Ed25519PrivateKey, reading: events.MeterReadingRecorded) -> Append:
    """The ledger-signed entry of one reading on its resident's channel (no transfers)."""
    request = signed_append(
        key=key, producer=SIGNER, entry_id=reading_entry_id(reading.event_id),
        channels=(resident_channel(reading.house_id),), kind=KIND, occurred_at=reading.interval_end,
        body=reading.model_dump(mode="json", exclude=_NOT_IN_BODY),
    )
    signed = request.signing_payload()
    return Append(
        entry_id=request.entry_id, channels=request.channels, kind=KIND, event_time=request.occurred_at,
        producer=SIGNER, payload=request.body, transfers=(), signature=request.signature,
        digest=hashlib.sha256(signed).hexdigest(),
        # What a dead letter shows if this id was already recorded with another body (a
        # re-ingested reading whose values changed): the ledger never overwrites an entry.
        request={"entry_id": request.entry_id, "occurred_at": reading.interval_end.isoformat(), "producer": SIGNER,
                 "channels": list(request.channels), "kind": KIND, "body": request.body},
    )


class ReadingProcessor:
    """Turns one poll of meter.readings into one append batch; persists it through the append path."""

    def __init__(self, *, appends: AppendProcessor, key: Ed25519PrivateKey, houses: Collection[str]) -> None:
        self._appends = appends
        self._key = key
        self._houses = frozenset(houses)

    async def process(self, records: Sequence[ConsumerRecord]) -> BatchOutcome:
        """Prepare and persist one poll."""
        return await self.persist(await self.prepare(records))

    async def prepare(self, records: Sequence[ConsumerRecord]) -> PreparedBatch:
        """Decode the poll's readings and sign their entries (watermarks ignored, unknown houses skipped)."""
        batch = PreparedBatch(now=datetime.now(timezone.utc))
        unknown: Counter[str] = Counter()
        undecodable = 0
        for record in records:
            raw = record.value or b""
            try:
                event = events.decode(raw)
            except events.EventDecodeError as error:
                # meter-ingest validated what it published; anything else here is not a reading.
                undecodable += 1
                log.warning("undecodable record on meter.readings skipped",
                            extra={"partition": record.partition, "offset": record.offset, "reason": str(error)})
                continue
            if not isinstance(event, events.MeterReadingRecorded):
                continue  # ClockWatermarkReached and anything else that is not a reading
            if event.house_id not in self._houses:
                unknown[event.house_id] += 1
                continue
            append = reading_append(self._key, event)
            batch.raw_of[id(append)] = raw
            batch.appends.append(append)
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
