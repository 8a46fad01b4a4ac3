"""Meter readings onto the ledger: each reading taken off meter.readings becomes one entry on its resident's channel.

The ledger attests what it received: the entry is signed with the ledger's own key (so
channel verification checks it like any other), its id derives from the reading's id (a
redelivered reading is the same entry, appended once), and it goes through the same
batch transaction as every other append.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from datetime import datetime, timezone

from aiokafka.structs import ConsumerRecord
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from energychain_ledger import metrics
from energychain_ledger.adapters.consumer import AppendProcessor, BatchOutcome, PreparedBatch
from energychain_ledger.domain.appends import Append
from energychain_shared import events
from energychain_shared.channels import resident_channel
from energychain_shared.keys import sign

log = logging.getLogger(__name__)
SIGNER = "ledger"
KIND = "meter_reading"


def reading_append(key: Ed25519PrivateKey, reading: events.MeterReadingRecorded) -> Append:
    """The signed ledger entry of one reading."""
    request = events.LedgerAppendRequested(
        event_id=events.deterministic_id("ledger-reading", reading.event_id),
        entry_id=events.deterministic_id("ledger-reading", reading.event_id),
        occurred_at=reading.interval_start, producer=SIGNER, channels=(resident_channel(reading.house_id),),
        kind=KIND, body=reading.model_dump(mode="json", exclude={"event_type", "schema_version"}), signature="",
    )
    payload = request.signing_payload()
    return Append(
        entry_id=request.entry_id, channels=request.channels, kind=KIND, event_time=request.occurred_at,
        producer=SIGNER, payload=request.body, transfers=(), signature=sign(key, payload),
        digest=hashlib.sha256(payload).hexdigest(),
    )


class ReadingProcessor:
    """Prepares a batch of meter.readings records as appends; persists them like any append batch."""

    def __init__(self, *, appends: AppendProcessor, key: Ed25519PrivateKey, houses: set[str]) -> None:
        self._appends = appends
        self._key = key
        self._houses = houses

    async def prepare(self, records: Sequence[ConsumerRecord]) -> PreparedBatch:
        """Decode the readings (watermarks and unknown houses are skipped) and sign their entries."""
        batch = PreparedBatch(now=datetime.now(timezone.utc))
        for record in records:
            try:
                event = events.decode(record.value or b"")
            except events.EventDecodeError as error:
                metrics.READINGS.labels("undecodable").inc()
                log.warning("undecodable reading skipped", extra={"offset": record.offset, "reason": str(error)})
                continue
            if not isinstance(event, events.MeterReadingRecorded):
                continue
            if event.house_id not in self._houses:
                metrics.READINGS.labels("unknown_house").inc()
                continue
            batch.appends.append(reading_append(self._key, event))
        return batch

    async def persist(self, batch: PreparedBatch) -> BatchOutcome:
        """One transaction for the batch (a repeated reading is a duplicate, not a second entry)."""
        outcome = await self._appends.persist(batch)
        metrics.READINGS.labels("recorded").inc(outcome.appended)
        return outcome
