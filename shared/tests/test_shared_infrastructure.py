"""The plumbing against the real broker and database: groups share partitions, restarts resume."""

import asyncio
import dataclasses
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from energychain_shared.db import make_engine, make_session_factory
from energychain_shared.events import MeterReadingRecorded, decode
from energychain_shared.kafka import ensure_topics, make_consumer, make_producer, publish
from energychain_shared.topics import METER_READINGS

pytestmark = pytest.mark.integration

T0 = datetime(2022, 1, 1, tzinfo=timezone.utc)


def reading(house: int, hour: int) -> MeterReadingRecorded:
    start = T0 + timedelta(hours=hour)
    house_id = f"house-{house:04d}"
    return MeterReadingRecorded(
        event_id=MeterReadingRecorded.id_for(house_id, start), occurred_at=start + timedelta(hours=1),
        producer="test", house_id=house_id, interval_start=start, solar_wh=0, home_wh=hour,
        battery_charged_wh=0, battery_discharged_wh=0, grid_import_wh=hour, grid_export_wh=0,
        battery_level_pct=None, imbalance_wh=0, source_file="t.csv", source_line=hour + 2,
    )


async def fresh_topic(settings) -> str:
    topic = dataclasses.replace(METER_READINGS, name=f"it-{uuid.uuid4().hex[:8]}")
    await ensure_topics(settings, [topic])
    return settings.topic(topic)


async def produce(settings, topic_name: str, events) -> None:
    producer = make_producer(settings, client_id="test-producer")
    await producer.start()
    try:
        for event in events:
            await publish(producer, topic_name, event)
        await producer.flush()
    finally:
        await producer.stop()


async def drain(consumer, *, expected: int, timeout_s: float = 30) -> list:
    got = []
    async with asyncio.timeout(timeout_s):
        while len(got) < expected:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                got.extend(records)
    return got


async def test_a_consumer_group_shares_partitions_and_consumes_each_event_once(infrastructure):
    topic_name = await fresh_topic(infrastructure)
    sent = [reading(house, hour) for house in range(24) for hour in range(5)]
    await produce(infrastructure, topic_name, sent)

    group = f"g-{uuid.uuid4().hex[:6]}"
    first = make_consumer(infrastructure, topic_name, group_id=group, client_id="c1")
    second = make_consumer(infrastructure, topic_name, group_id=group, client_id="c2")
    await first.start()
    await second.start()
    try:
        async with asyncio.timeout(30):  # wait until the rebalance settles: both members, disjoint halves
            while not (first.assignment() and second.assignment()
                       and not first.assignment() & second.assignment()
                       and len(first.assignment() | second.assignment()) == METER_READINGS.partitions):
                await asyncio.gather(first.getmany(timeout_ms=200), second.getmany(timeout_ms=200))
        for consumer in (first, second):
            for partition in consumer.assignment():
                consumer.seek(partition, 0)
        received = await drain_both(first, second, expected=len(sent))
    finally:
        await first.stop()
        await second.stop()
    ids = [decode(r.value).event_id for r in received]
    assert sorted(ids) == sorted(e.event_id for e in sent)
    by_house = {}
    for record in received:
        by_house.setdefault(record.key, set()).add(record.partition)
    assert all(len(partitions) == 1 for partitions in by_house.values()), "a house's readings must stay on one partition"


async def drain_both(first, second, *, expected: int) -> list:
    got = []
    async with asyncio.timeout(30):
        while len(got) < expected:
            for batch in await asyncio.gather(first.getmany(timeout_ms=300), second.getmany(timeout_ms=300)):
                for records in batch.values():
                    got.extend(records)
    return got


async def test_a_restarted_consumer_resumes_after_its_last_committed_offset(infrastructure):
    topic_name = await fresh_topic(infrastructure)
    sent = [reading(1, hour) for hour in range(40)]  # one house: one partition, ordered
    await produce(infrastructure, topic_name, sent)
    group = f"g-{uuid.uuid4().hex[:6]}"

    consumer = make_consumer(infrastructure, topic_name, group_id=group, client_id="before", max_poll_records=15)
    await consumer.start()
    try:
        first_part = (await drain(consumer, expected=15))[:15]
        last = first_part[-1]
        from aiokafka import TopicPartition

        await consumer.commit({TopicPartition(last.topic, last.partition): last.offset + 1})
    finally:
        await consumer.stop()

    restarted = make_consumer(infrastructure, topic_name, group_id=group, client_id="after")
    await restarted.start()
    try:
        rest = await drain(restarted, expected=25)
    finally:
        await restarted.stop()
    assert [decode(r.value).event_id for r in rest] == [e.event_id for e in sent[15:]]


async def test_a_record_is_stamped_with_the_time_the_broker_took_it_not_its_event_time(infrastructure):
    topic_name = await fresh_topic(infrastructure)
    before = datetime.now(timezone.utc)
    producer = make_producer(infrastructure, client_id="test-producer")
    await producer.start()
    try:
        event_time_ms = int(T0.timestamp() * 1000)  # what meter-ingest passes: the reading's event time
        await (await producer.send(topic_name, b"{}", key=b"house-0001", timestamp_ms=event_time_ms))
    finally:
        await producer.stop()
    consumer = make_consumer(infrastructure, topic_name, group_id=f"g-{uuid.uuid4().hex[:6]}", client_id="c")
    await consumer.start()
    try:
        (record,) = await drain(consumer, expected=1)
    finally:
        await consumer.stop()
    stamped = datetime.fromtimestamp(record.timestamp / 1000, timezone.utc)
    assert record.timestamp_type == 1  # LogAppendTime
    assert before - timedelta(seconds=5) <= stamped <= datetime.now(timezone.utc) + timedelta(seconds=5)


async def test_the_database_session_writes_and_reads_back_in_one_transaction(infrastructure):
    engine = make_engine(infrastructure, pool_size=2)
    sessions = make_session_factory(engine)
    table = f"it_{uuid.uuid4().hex[:8]}"
    try:
        async with sessions() as session, session.begin():
            await session.execute(text(f"create temporary table {table} (k text primary key, wh bigint) on commit drop"))
            await session.execute(text(f"insert into {table} values ('a', 1500), ('b', 2500)"))
            total = (await session.execute(text(f"select sum(wh) from {table}"))).scalar_one()
        assert total == 4000
        async with sessions() as session:
            name = (await session.execute(text("select current_database()"))).scalar_one()
        assert name.endswith("_test")
    finally:
        await engine.dispose()


async def test_a_commit_overtaken_by_a_rebalance_is_skipped_and_the_new_owner_rereads(infrastructure):
    from aiokafka import TopicPartition
    from aiokafka.structs import OffsetAndMetadata

    from energychain_shared.kafka import commit_after_effects

    topic_name = await fresh_topic(infrastructure)
    sent = [reading(house, hour) for house in range(24) for hour in range(5)]
    await produce(infrastructure, topic_name, sent)
    group = f"g-{uuid.uuid4().hex[:6]}"

    first = make_consumer(infrastructure, topic_name, group_id=group, client_id="first")
    await first.start()
    second = make_consumer(infrastructure, topic_name, group_id=group, client_id="second")
    try:
        polled = await drain(first, expected=len(sent))  # the only member: it has every partition
        handled = {}
        for record in polled:
            handled[TopicPartition(record.topic, record.partition)] = OffsetAndMetadata(record.offset + 1, "")
        await second.start()  # joins while `first` still holds offsets for every partition
        reread = []
        async with asyncio.timeout(30):
            while not (second.assignment() and len(first.assignment()) < METER_READINGS.partitions):
                _, batch = await asyncio.gather(first.getmany(timeout_ms=200), second.getmany(timeout_ms=200))
                reread += [record for records in batch.values() for record in records]
        moved = set(handled) - first.assignment()
        assert moved, "the rebalance moved no partition to the second member"

        assert await commit_after_effects(first, handled) is False  # not fatal: the worker carries on
        if not reread:
            reread = await drain(second, expected=1)
        first_offsets = {}
        for record in reread:
            first_offsets.setdefault(TopicPartition(record.topic, record.partition), record.offset)
        assert set(first_offsets) <= moved
        assert set(first_offsets.values()) == {0}, "the new owner re-reads from the last commit (none: the start)"
        kept = {tp: o for tp, o in handled.items() if tp in first.assignment()}
        assert await commit_after_effects(first, kept) is True
        assert {tp: (await first.committed(tp)) for tp in kept} == {tp: o.offset for tp, o in kept.items()}
    finally:
        await first.stop()
        await second.stop()


async def test_a_failed_batch_is_read_again_from_the_committed_offsets_and_the_worker_carries_on(infrastructure):
    from energychain_shared.kafka import commit_after_effects, poll_until_stopped

    topic_name = await fresh_topic(infrastructure)
    sent = [reading(house, hour) for house in range(12) for hour in range(10)]
    await produce(infrastructure, topic_name, sent)
    consumer = make_consumer(infrastructure, topic_name, group_id=f"g-{uuid.uuid4().hex[:6]}", client_id="flaky",
                             max_poll_records=25)
    stop = asyncio.Event()
    durable: list[str] = []  # what a handler made durable, in the order it did
    failures = []

    async def on_batches(batches) -> None:
        records = [r for batch in batches.values() for r in batch]
        if len(failures) < 2 and durable:  # twice, after some progress: the database went away mid-batch
            durable.extend(decode(r.value).event_id for r in records[: len(records) // 2])
            failures.append(len(records))
            raise ConnectionError("database unavailable")
        durable.extend(decode(r.value).event_id for r in records)
        await commit_after_effects(consumer)
        if set(durable) >= {e.event_id for e in sent}:
            stop.set()

    await consumer.start()
    try:
        async with asyncio.timeout(60):
            await poll_until_stopped(consumer, stop, on_batches, what="test batch")
    finally:
        await consumer.stop()
    assert len(failures) == 2
    assert set(durable) == {e.event_id for e in sent}, "every event handled despite the failures"
    assert len(durable) > len(sent), "the failed batches were read again (handlers are idempotent)"


async def test_a_scratch_database_is_dropped_even_while_a_session_of_ours_is_still_in_it(infrastructure):
    import asyncpg

    from energychain_shared.pg import drop_database

    admin_dsn = infrastructure.asyncpg_dsn
    name = f"energychain_scratch_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        stray = await asyncpg.connect(admin_dsn.rsplit("/", 1)[0] + f"/{name}")
        await drop_database(admin_dsn, name)
        stray.terminate()
        assert await admin.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name) == 0
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_the_outbox_relay_replaces_a_producer_the_broker_refuses_and_loses_no_row(infrastructure):
    from aiokafka import TopicPartition
    from aiokafka.errors import OutOfOrderSequenceNumber

    from energychain_shared.db import make_engine
    from energychain_shared.kafka import RenewableProducer
    from energychain_shared.migrations import drop_schema
    from energychain_shared.outbox import create_outbox, enqueue, outbox_row, pending, relay

    topic_name = await fresh_topic(infrastructure)
    schema = f"relay_{uuid.uuid4().hex[:8]}"
    engine = make_engine(infrastructure, schema=schema, pool_size=2)
    producer = RenewableProducer(infrastructure, client_id="test-relay")
    await producer.start()
    try:
        async with engine.begin() as connection:
            await connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            await connection.run_sync(create_outbox)
            await enqueue(connection, [outbox_row(topic_name, reading(1, 0), partition=0)])
        assert await relay(engine, producer, schema=schema) == 1
        broken = producer._producer
        # What a broker restart can leave behind: the producer's sequence for the partition is
        # no longer the broker's, so the broker refuses its next batch (for real, over the wire).
        broken._txn_manager._sequence_numbers[TopicPartition(topic_name, 0)] += 1000
        async with engine.begin() as connection:
            await enqueue(connection, [outbox_row(topic_name, reading(1, h), partition=0) for h in (1, 2)])
        with pytest.raises(OutOfOrderSequenceNumber):
            await relay(engine, producer, schema=schema)
        assert producer._producer is not broken  # renewed
        async with engine.connect() as connection:
            assert await pending(connection) == 2
        assert await relay(engine, producer, schema=schema) == 2
    finally:
        await producer.stop()
        await engine.dispose()
        await drop_schema(infrastructure, schema)
    consumer = make_consumer(infrastructure, topic_name, group_id=f"g-{uuid.uuid4().hex[:6]}", client_id="c")
    await consumer.start()
    try:
        got = await drain(consumer, expected=3)
    finally:
        await consumer.stop()
    assert sorted(decode(r.value).home_wh for r in got) == [0, 1, 2]  # each row once, none lost
