"""The append consumer: Kafka batch -> verified appends -> one DB transaction -> dead letters -> offsets."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata
from concurrent.futures import Executor

from energychain_ledger import metrics
from energychain_ledger.adapters.store import LedgerStore
from energychain_ledger.adapters.signatures import SignatureVerifier
from energychain_ledger.adapters.wire import Prepared, bad_signature, check_signatures, prepare_append, rejection
from energychain_ledger.domain.appends import CONFLICTING_ENTRY, Append, AppendRefused
from energychain_shared.events import LedgerAppendRejected
from energychain_shared.kafka import commit_after_effects, publish, retry_from_committed

log = logging.getLogger(__name__)


@dataclass(slots=True)
class BatchOutcome:
    """What one consumed batch did."""

    appended: int = 0
    duplicates: int = 0
    rejected: list[LedgerAppendRejected] = field(default_factory=list)
    committed_at: float = 0.0
    checkpoint_size: int | None = None  # the signed checkpoint that covers the batch


@dataclass(slots=True)
class PreparedBatch:
    """A decoded, verified batch waiting for its transaction."""

    now: datetime
    appends: list[Append] = field(default_factory=list)
    raw_of: dict[int, bytes] = field(default_factory=dict)
    rejected: list[LedgerAppendRejected] = field(default_factory=list)


class BatchProcessor(Protocol):
    """What the consumer loop drives: prepare a poll (CPU), then persist it (one transaction)."""

    async def prepare(self, records: Sequence[ConsumerRecord]) -> PreparedBatch:
        """Decode and sign or verify a poll; no database."""
        ...

    async def persist(self, batch: PreparedBatch) -> BatchOutcome:
        """Commit the batch's appends in one transaction."""
        ...


class AppendProcessor:
    """Turns one batch of records into one committed transaction plus dead letters."""

    def __init__(
        self, *, store: LedgerStore, keys: Mapping[str, Sequence[SignatureVerifier]],
        producer: AIOKafkaProducer, dead_letter_topic: str, checkpoint_topic: str,
        executor: Executor | None = None, workers: int = 1,
    ) -> None:
        self._store = store
        self._keys = keys
        self._producer = producer
        self._dead_letter_topic = dead_letter_topic
        self._checkpoint_topic = checkpoint_topic
        self._executor = executor
        self._workers = max(1, workers)

    async def process(self, records: Sequence[ConsumerRecord]) -> BatchOutcome:
        """Persist the valid appends in one transaction, then dead-letter the refused ones."""
        return await self.persist(await self.prepare(records))

    async def prepare(self, records: Sequence[ConsumerRecord]) -> PreparedBatch:
        """Decode and verify a batch (CPU only, no database): appends to persist and refusals."""
        batch = PreparedBatch(now=datetime.now(timezone.utc))
        raws = [record.value or b"" for record in records]
        for raw, parsed in zip(raws, await self._parse(raws)):
            if isinstance(parsed, AppendRefused):
                batch.rejected.append(rejection(raw, reason=parsed.reason, detail=parsed.detail,
                                                request=None, fallback_time=batch.now))
                continue
            batch.raw_of[id(parsed)] = raw
            batch.appends.append(parsed)
        return batch

    async def persist(self, batch: PreparedBatch) -> BatchOutcome:
        """One transaction for the batch's appends; then its dead letters (conflicts included)."""
        outcome = BatchOutcome(rejected=list(batch.rejected))
        committed = await self._store.append_batch(batch.appends)
        plan = committed.plan
        outcome.committed_at = time.time()
        outcome.checkpoint_size = plan.log.size if committed.note is not None else None
        outcome.appended, outcome.duplicates = len(plan.appended), len(plan.duplicates)
        for append, detail in plan.conflicts:
            outcome.rejected.append(rejection(batch.raw_of[id(append)], reason=CONFLICTING_ENTRY, detail=detail,
                                              request=append.request or json.loads(append.entry),
                                              fallback_time=batch.now))
        # Dead letters go out after the commit and before the offsets: a crash in between
        # re-sends them with the same deterministic event id, never loses one.
        futures = [await publish(self._producer, self._dead_letter_topic, event) for event in outcome.rejected]
        if committed.note is not None:
            # After the commit: a checkpoint lost to a crash here is covered by the next one.
            futures.append(await publish(self._producer, self._checkpoint_topic, committed.event))
            metrics.CHECKPOINTS.inc()
        if futures:
            await asyncio.gather(*futures)
        metrics.APPENDS.labels("appended").inc(outcome.appended)
        metrics.APPENDS.labels("duplicate").inc(outcome.duplicates)
        for event in outcome.rejected:
            metrics.APPENDS.labels(event.reason).inc()
            log.warning("append refused", extra={"entry_id": event.entry_id, "reason": event.reason,
                                                 "detail": event.detail})
        return outcome

    async def _parse(self, raws: list[bytes]) -> list[Append | AppendRefused]:
        parsed: list[Append | AppendRefused | Prepared] = []
        for raw in raws:
            try:
                parsed.append(prepare_append(raw, keys=self._keys))
            except AppendRefused as refused:
                parsed.append(refused)
        prepared = [p for p in parsed if isinstance(p, Prepared)]
        signers = await self._check_signatures(prepared)
        self._prefer_recent_signers(prepared, signers)
        valid = iter(signers)
        return [
            item if not isinstance(item, Prepared) else (item.append if next(valid) is not None else bad_signature(item.append))
            for item in parsed
        ]

    def _prefer_recent_signers(self, prepared: list[Prepared], signers: list[SignatureVerifier | None]) -> None:
        # A producer with several registered keys (after a rotation) signs with one of them:
        # try that one first next time. Done here, while no verification thread runs.
        for item, signer in zip(prepared, signers):
            keys = item.verifiers
            if signer is not None and keys[0] is not signer and isinstance(keys, list):
                keys.remove(signer)
                keys.insert(0, signer)

    async def _check_signatures(self, prepared: list[Prepared]) -> list[SignatureVerifier | None]:
        # Only the signature checks go to threads: they run in C without the GIL, so they
        # really use the other core; the Python around them would just fight over the GIL.
        if self._executor is None or self._workers == 1 or len(prepared) < 64:
            return check_signatures(prepared)
        size = -(-len(prepared) // self._workers)
        loop = asyncio.get_running_loop()
        chunks = await asyncio.gather(*(
            loop.run_in_executor(self._executor, check_signatures, prepared[i:i + size])
            for i in range(0, len(prepared), size)
        ))
        return [ok for chunk in chunks for ok in chunk]


@dataclass(slots=True)
class _InFlight:
    task: asyncio.Task[BatchOutcome]
    polled: Mapping[TopicPartition, list[ConsumerRecord]]
    records: list[ConsumerRecord]
    started: float


class AppendConsumer:
    """The consumer loop: poll a batch, process it, then commit its offsets."""

    def __init__(
        self, *, consumer: AIOKafkaConsumer, processor: BatchProcessor, batch_max: int, poll_timeout_ms: int,
        latency_sink: list[float] | None = None,
    ) -> None:
        self._consumer = consumer
        self._processor = processor
        self._batch_max = batch_max
        self._poll_timeout_ms = poll_timeout_ms
        self._latency_sink = latency_sink
        self.appended = 0
        self.batches = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; a failed batch (database or broker away) is retried
        from the committed offsets after a pause, never the end of the consumer."""
        await retry_from_committed(self._consumer, stop, lambda: self._run(stop), what="ledger batch")

    async def _run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set.

        Two batches overlap: while batch k's transaction runs, batch k+1 is decoded and
        its signatures checked. Transactions stay strictly one after another, and batch
        k's offsets are committed only once its transaction has committed.
        """
        in_flight: _InFlight | None = None
        try:
            while not stop.is_set():
                polled = await self._consumer.getmany(timeout_ms=self._poll_timeout_ms, max_records=self._batch_max)
                records = [r for batch in polled.values() for r in batch]
                started = time.perf_counter()
                prepared = await self._processor.prepare(records) if records else None
                if in_flight is not None:
                    await self._finish(in_flight)
                    in_flight = None
                if prepared is not None:
                    task = asyncio.create_task(self._processor.persist(prepared))
                    in_flight = _InFlight(task, polled, records, started)
        finally:
            if in_flight is not None:
                await self._finish(in_flight)

    async def _finish(self, in_flight: _InFlight) -> int:
        outcome = await in_flight.task
        # Offsets only after the transaction committed: a crash before this line
        # redelivers the batch, and the ledger is idempotent on entry ids.
        assigned = self._consumer.assignment()
        offsets = {tp: OffsetAndMetadata(batch[-1].offset + 1, "")
                   for tp, batch in in_flight.polled.items() if tp in assigned}
        # A rebalance may have moved the partitions away meanwhile: their new owner
        # re-reads from the last committed offset, and the ledger ignores what it has.
        await commit_after_effects(self._consumer, offsets)
        self._observe(in_flight.polled, in_flight.records, outcome, time.perf_counter() - in_flight.started)
        return outcome.appended

    def _observe(
        self, polled: Mapping[TopicPartition, list[ConsumerRecord]], records: list[ConsumerRecord],
        outcome: BatchOutcome, seconds: float,
    ) -> None:
        self.appended += outcome.appended
        self.batches += 1
        metrics.BATCH_SECONDS.observe(seconds)
        metrics.BATCH_SIZE.observe(len(records))
        # The metric takes each partition's oldest record of the batch (its worst latency): one
        # observation per record would cost more than the rest of the readings path.
        for batch in polled.values():
            metrics.APPEND_LATENCY.observe(outcome.committed_at - batch[0].timestamp / 1000)
        if self._latency_sink is not None:
            self._latency_sink.extend(outcome.committed_at - record.timestamp / 1000 for record in records)
        assigned = self._consumer.assignment()
        for tp, batch in polled.items():
            if tp not in assigned:
                continue  # moved away by a rebalance while the batch was in flight
            highwater = self._consumer.highwater(tp)
            if highwater is not None:
                metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(0, highwater - batch[-1].offset - 1))
