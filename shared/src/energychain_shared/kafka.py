"""aiokafka plumbing: idempotent producers, manually committed consumers, topic creation.

Clients are built inside the running event loop and never at import time.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CommitFailedError, IllegalStateError, KafkaError, OutOfOrderSequenceNumber, ProducerFenced, TopicAlreadyExistsError,
)

from energychain_shared.events import Event, encode
from energychain_shared.settings import CommonSettings, load_settings
from energychain_shared.topics import ALL_TOPICS, Topic

log = logging.getLogger(__name__)


class InfrastructureUnavailable(RuntimeError):
    """Kafka or PostgreSQL could not be reached at start; the message names the setting."""


def make_producer(settings: CommonSettings, *, client_id: str, **overrides) -> AIOKafkaProducer:
    """An idempotent, acks=all producer (redelivery-safe on broker retries)."""
    options = dict(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        max_batch_size=256 * 1024,
        compression_type=None,
        request_timeout_ms=int(settings.kafka_client_timeout_s * 1000 * 3),
    )
    options.update(overrides)
    return AIOKafkaProducer(**options)


# After these an idempotent producer's sequence state no longer matches the broker's (seen
# after a broker restart): every later send fails the same way until the producer is replaced.
FATAL_PRODUCER_ERRORS: tuple[type[Exception], ...] = (OutOfOrderSequenceNumber, ProducerFenced)


class RenewableProducer:
    """A ``make_producer`` producer that its holder can replace after a fatal error.

    Long-lived holders (a worker, an API) keep this one reference; ``renew`` swaps in a fresh
    producer (a new producer id, sequences from zero). What was in flight failed and is sent
    again by its caller: the outbox keeps rows unpublished until their send succeeded.
    Everything else is the current producer's.
    """

    def __init__(self, settings: CommonSettings, *, client_id: str) -> None:
        self._settings, self._client_id = settings, client_id
        self._producer = make_producer(settings, client_id=client_id)

    def __getattr__(self, name: str):
        return getattr(self._producer, name)

    async def renew(self) -> None:
        """Stop the broken producer (whatever it says) and start a new one."""
        broken, self._producer = self._producer, make_producer(self._settings, client_id=self._client_id)
        try:
            await broken.stop()
        except Exception:  # it is being discarded because it failed
            log.warning("stopping a failed producer raised", exc_info=True)
        await self._producer.start()
        log.warning("producer renewed after a fatal error", extra={"client_id": self._client_id})


def make_consumer(
    settings: CommonSettings, *topics: str, group_id: str | None, client_id: str, **overrides
) -> AIOKafkaConsumer:
    """A consumer that never auto-commits: callers commit after their effect is durable."""
    options = dict(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_poll_records=2000,
        max_poll_interval_ms=300_000,
    )
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)


async def commit_after_effects(consumer: AIOKafkaConsumer, offsets: dict | None = None) -> bool:
    """Commit offsets whose effects are already durable; False when a rebalance got there first.

    After a rebalance the partitions' new owner re-reads from the last committed offset;
    every handler is idempotent on event ids, so the redelivery changes nothing. The
    worker carries on rather than dying on the failed commit.
    """
    try:
        if offsets is None:
            await consumer.commit()
        elif offsets:
            await consumer.commit(offsets)
    except (CommitFailedError, IllegalStateError) as error:
        log.warning("offset commit skipped after a rebalance; the new owner re-reads: %s", error)
        return False
    return True


async def rewind_to_committed(consumer: AIOKafkaConsumer) -> None:
    """Position every assigned partition at its last committed offset (the beginning when none is)."""
    for partition in consumer.assignment():
        offset = await consumer.committed(partition)
        if offset is None or offset < 0:
            await consumer.seek_to_beginning(partition)
        else:
            consumer.seek(partition, offset)


async def pause_unless_stopped(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less when ``stop`` is set meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except asyncio.TimeoutError:
        pass


async def retry_from_committed(
    consumer: AIOKafkaConsumer, stop: asyncio.Event, run: Callable[[], Awaitable[None]], *,
    what: str, max_pause_s: float = 30.0,
) -> None:
    """Run a consume loop until ``stop``; when it fails, pause and run it again from the committed offsets.

    A worker must not die because PostgreSQL restarted or the broker timed out mid-batch:
    the failed batch's offsets were never committed, so after a pause (doubling up to
    ``max_pause_s``) every assigned partition is re-read from its last commit. Handlers are
    idempotent on event ids, so what the failed batch had already made durable is not done twice.
    """
    pause = 1.0
    failed = False
    while not stop.is_set():
        try:
            if failed:
                await rewind_to_committed(consumer)
                failed = False
            await run()
            return
        except Exception:
            log.exception("%s failed; re-reading from the last committed offsets in %.0f s", what, pause)
            failed = True
            await pause_unless_stopped(stop, pause)
            pause = min(pause * 2, max_pause_s)


async def poll_until_stopped(
    consumer: AIOKafkaConsumer, stop: asyncio.Event,
    on_batches: Callable[[dict], Awaitable[None]], *, what: str, timeout_ms: int = 500,
) -> None:
    """Poll and hand each non-empty batch to ``on_batches`` (effects, then commit) until ``stop``, surviving failures."""

    async def loop() -> None:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=timeout_ms)
            if batches:
                await on_batches(batches)

    await retry_from_committed(consumer, stop, loop, what=what)


async def publish(producer: AIOKafkaProducer, topic_name: str, event: Event, *, partition: int | None = None):
    """Send one event keyed by its partition key; returns the delivery future."""
    key = event.partition_key
    return await producer.send(
        topic_name,
        value=encode(event),
        key=None if key is None else key.encode(),
        partition=partition,
    )


async def ensure_topics(settings: CommonSettings, topics: Iterable[Topic] = ALL_TOPICS) -> list[str]:
    """Create the registry's topics that do not exist yet; returns the names created."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, client_id="energychain-topics"
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [t for t in topics if settings.topic(t) not in existing]
        if not wanted:
            return []
        new_topics = [
            NewTopic(
                name=settings.topic(t),
                num_partitions=t.partitions,
                replication_factor=settings.kafka_replication_factor,
                topic_configs={
                    "retention.ms": str(t.retention_ms),
                    "cleanup.policy": "compact" if t.compacted else "delete",
                    "min.insync.replicas": str(settings.kafka_min_insync_replicas),
                    # A record's Kafka timestamp is when the broker took it (publish time, what
                    # latency is measured from); event time is always in the event itself.
                    "message.timestamp.type": "LogAppendTime",
                },
            )
            for t in wanted
        ]
        try:
            await admin.create_topics(new_topics)
        except TopicAlreadyExistsError:
            pass  # another process created them first: that is the goal
        return [settings.topic(t) for t in wanted]
    finally:
        await admin.close()


async def delete_topics(settings: CommonSettings, topics: Iterable[Topic] = ALL_TOPICS) -> None:
    """Delete the registry's topics under ``settings``' prefix that exist (benchmarks clean up after themselves)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers, client_id="energychain-topics")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        names = [settings.topic(t) for t in topics if settings.topic(t) in existing]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


async def delete_topics_with_prefix(settings: CommonSettings, prefix: str) -> int:
    """Delete every topic whose name starts with ``prefix`` (a test session's or a sandbox's); returns how many."""
    if not prefix:
        raise ValueError("refusing to delete every topic: give a non-empty prefix")
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers, client_id="energychain-topics")
    await admin.start()
    try:
        names = [name for name in await admin.list_topics() if name.startswith(prefix)]
        for start in range(0, len(names), 100):
            await admin.delete_topics(names[start:start + 100])
        return len(names)
    finally:
        await admin.close()


async def check_kafka(settings: CommonSettings) -> None:
    """Fail fast with one line naming the setting when the broker cannot be reached."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id="energychain-startup-check",
        request_timeout_ms=int(settings.kafka_client_timeout_s * 1000),
    )
    # The client logs each failed attempt; the one line below says it all.
    client_log = logging.getLogger("aiokafka")
    previous_level = client_log.level
    client_log.setLevel(logging.CRITICAL)
    try:
        await asyncio.wait_for(admin.start(), timeout=settings.kafka_client_timeout_s)
        await asyncio.wait_for(admin.list_topics(), timeout=settings.kafka_client_timeout_s)
    except (KafkaError, OSError, asyncio.TimeoutError) as error:
        raise InfrastructureUnavailable(
            f"EC_KAFKA_BOOTSTRAP_SERVERS={settings.kafka_bootstrap_servers}: broker unreachable "
            f"({type(error).__name__}: {error or 'timed out'})"
        ) from None
    finally:
        client_log.setLevel(previous_level)
        await admin.close()


def create_topics_main() -> None:
    """`energychain-topics`: create every registered topic that is missing."""
    settings = load_settings(CommonSettings)
    try:
        asyncio.run(check_kafka(settings))
        created = asyncio.run(ensure_topics(settings))
    except InfrastructureUnavailable as error:
        print(f"energychain: {error}", file=sys.stderr)
        raise SystemExit(3) from None
    for topic in ALL_TOPICS:
        state = "created" if settings.topic(topic) in created else "exists"
        print(f"{state:8} {settings.topic(topic)} ({topic.partitions} partitions)")
