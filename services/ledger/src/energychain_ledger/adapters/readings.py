"""Meter readings onto the ledger: each reading taken off meter.readings becomes one entry on its resident's channel.

The ledger attests what it took off the broker: the entry is signed with the ledger's own
service key over the same canonical payload every producer signs (so channel
verification checks it like any other entry), its id derives from the reading's event id
(a redelivered reading is the same entry and is appended once), and the batch goes through
the same ``AppendProcessor.persist`` transaction as every other append.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections import Counter
from collections.abc import Collection, Sequence
from datetime import datetime, timezone

from aiokafka.structs import ConsumerRecord
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from nacl.signing import SigningKey
from pydantic import TypeAdapter

from energychain_ledger import metrics
from energychain_ledger.adapters.consumer import AppendProcessor, BatchOutcome, PreparedBatch
from energychain_ledger.domain.appends import Append
from energychain_shared import events
from energychain_shared.channels import resident_channel

log = logging.getLogger(__name__)
SIGNER = "ledger"
KIND = "meter_reading"
_NOT_IN_BODY = frozenset({"event_type", "schema_version"})
_JSON_TIME: TypeAdapter[datetime] = TypeAdapter(events.UtcDatetime)


def reading_entry_id(reading_event_id: str) -> str:
    """The ledger entry id of a reading: deterministic, so redelivery names the same entry."""
    return events.deterministic_id("ledger-reading", reading_event_id)


def reading_signer(key: Ed25519PrivateKey) -> SigningKey:
    """The ledger key as a libsodium signer: the same deterministic Ed25519 signatures, cheaper per call."""
    return SigningKey(key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))


def reading_append(signer: SigningKey, reading: events.MeterReadingRecorded) -> Append:
    """The ledger-signed entry of one reading on its resident's channel (no transfers).

    The hot path of the whole pipeline, so the signed payload is built once, by hand, rather
    than through ``signed_append`` (which validates and dumps a ``LedgerAppendRequested``
    twice); the bytes are exactly ``LedgerAppendRequested.signing_payload()``'s (a unit test
    compares both for the same reading), so verification treats it like any other entry.
    """
    entry_id = reading_entry_id(reading.event_id)
    channel = resident_channel(reading.house_id)
    body = reading.model_dump(mode="json", exclude=_NOT_IN_BODY)
    occurred_at = _JSON_TIME.dump_python(reading.interval_end, mode="json")
    signed = events.canonical_json({
        "entry_id": entry_id, "occurred_at": occurred_at, "producer": SIGNER, "channels": [channel],
        "kind": KIND, "body": body, "transfers": [],
    })
    return Append(
        entry_id=entry_id, channels=(channel,), kind=KIND, event_time=reading.interval_end,
        producer=SIGNER, payload=body, transfers=(),
        signature=base64.b64encode(signer.sign(signed).signature).decode(),
        digest=hashlib.sha256(signed).hexdigest(),
        # What a dead letter shows if this id was already recorded with another body (a
        # re-ingested reading whose values changed): the ledger never overwrites an entry.
        request={"entry_id": entry_id, "occurred_at": occurred_at, "producer": SIGNER,
                 "channels": [channel], "kind": KIND, "body": body},
    )


class ReadingProcessor:
    """Turns one poll of meter.readings into one append batch; persists it through the append path."""

    def __init__(self, *, appends: AppendProcessor, key: Ed25519PrivateKey, houses: Collection[str]) -> None:
        self._appends = appends
        self._signer = reading_signer(key)
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
            append = reading_append(self._signer, event)
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
