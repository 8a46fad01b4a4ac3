"""Following the dead-letter topics into a DeadLetterBook: every partition from its first offset, for as long as it runs.

No consumer group and no commits: each start of the process reads both topics again from the
beginning, so what the listing shows is what the topics hold, whoever dead-lettered it (the API's
replay, a replay from the command line, the ledger) and whenever.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord
from energychain_shared import events, topics
from energychain_shared.kafka import ensure_topics, make_consumer, pause_unless_stopped
from energychain_shared.settings import CommonSettings

from energychain_meter_ingest import SERVICE_NAME
from energychain_meter_ingest.domain.dead_letters import LEDGER_APPEND, READING, DeadLetter, DeadLetterBook, Resolution

log = logging.getLogger(__name__)
FOLLOWED = (topics.METER_DEAD_LETTERS, topics.LEDGER_DEAD_LETTERS)


def _broker_time(record: ConsumerRecord) -> datetime:
    return datetime.fromtimestamp(record.timestamp / 1000, timezone.utc)


def fold_record(book: DeadLetterBook, record: ConsumerRecord, event: events.Event) -> bool:
    """Put one decoded record into ``book``; False for an event that is neither a dead letter nor a marker."""
    position = f"{record.topic}:{record.partition}:{record.offset}"
    if isinstance(event, events.MeterReadingRejected):
        book.add(DeadLetter(
            id=event.event_id, kind=READING, reason=event.reason, detail=event.detail, occurred_at=event.occurred_at,
            dead_lettered_at=_broker_time(record), position=position, house_id=event.house_id,
            source_file=event.source_file, source_line=event.source_line, raw=event.raw,
        ))
    elif isinstance(event, events.LedgerAppendRejected):
        producer = event.request.get("producer")
        book.add(DeadLetter(
            id=event.event_id, kind=LEDGER_APPEND, reason=event.reason, detail=event.detail,
            occurred_at=event.occurred_at, dead_lettered_at=_broker_time(record), position=position,
            entry_id=event.entry_id, producer=producer if isinstance(producer, str) else None, request=event.request,
        ))
    elif isinstance(event, events.MeterReadingRedriven):
        book.resolve(Resolution(
            dead_letter_id=event.dead_letter_id, reading_event_id=event.reading_event_id, house_id=event.house_id,
            source_file=event.source_file, source_line=event.source_line, raw=event.raw,
            redriven_by=event.redriven_by, resolved_at=_broker_time(record),
        ))
    else:
        return False
    return True


class DeadLetterFollower:
    """Reads meter.readings.dlq and ledger.appends.dlq into ``book`` in a background task."""

    def __init__(self, settings: CommonSettings, book: DeadLetterBook) -> None:
        self.settings = settings
        self.book = book
        self.unreadable = 0
        self._partitions = [
            TopicPartition(settings.topic(topic), partition) for topic in FOLLOWED for partition in range(topic.partitions)
        ]
        self._consumer: AIOKafkaConsumer | None = None  # set once its partitions are assigned
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        """Start following (the broker may be away: the task keeps trying)."""
        self._task = asyncio.create_task(self._run(), name="dead-letter-follower")

    async def stop(self) -> None:
        """Stop following and close the consumer (cancelled when the broker keeps it waiting)."""
        self._stop.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=10)
        except TimeoutError:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def behind(self) -> int | None:
        """Records on the topics not read yet, None until every partition answered a fetch: 0 means the book
        holds everything the broker held at its last answer (a waiting fetch is answered as a record arrives)."""
        consumer = self._consumer
        if consumer is None:
            return None
        behind = 0
        for tp in self._partitions:
            highwater = consumer.highwater(tp)
            if highwater is None:
                return None
            behind += max(0, highwater - await consumer.position(tp))
        return behind

    async def _connect(self) -> AIOKafkaConsumer:
        await ensure_topics(self.settings, FOLLOWED)
        consumer = make_consumer(self.settings, group_id=None, client_id=f"{SERVICE_NAME}-dead-letters")
        await consumer.start()
        try:
            consumer.assign(self._partitions)
            await consumer.seek_to_beginning(*self._partitions)
        except BaseException:
            await consumer.stop()
            raise
        return consumer

    async def _run(self) -> None:
        pause = 1.0
        try:
            while not self._stop.is_set():
                try:
                    if self._consumer is None:
                        self._consumer = await self._connect()
                    batches = await self._consumer.getmany(timeout_ms=500)
                    for records in batches.values():
                        for record in records:
                            self._fold(record)
                    pause = 1.0
                except Exception:
                    # Nothing is committed: after a failure the consumer carries on from its position.
                    log.exception("following the dead-letter topics failed; again in %.0f s", pause)
                    await pause_unless_stopped(self._stop, pause)
                    pause = min(pause * 2, 30.0)
        finally:
            if self._consumer is not None:
                await self._consumer.stop()

    def _fold(self, record: ConsumerRecord) -> None:
        try:
            folded, reason = fold_record(self.book, record, events.decode(record.value or b"")), "not a dead letter"
        except events.EventDecodeError as error:
            folded, reason = False, str(error)
        if not folded:
            self.unreadable += 1
            log.warning("record on a dead-letter topic skipped", extra={
                "topic": record.topic, "partition": record.partition, "offset": record.offset, "reason": reason})
