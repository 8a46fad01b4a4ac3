"""This machine's ceilings, measured in the same run as every benchmark: raw Kafka produce and
consume of the reading payload, raw COPY into a table shaped like the ledger's entries.

The machine's speed drifts from day to day, so a benchmark's figure means something only as a
share of the ceilings measured beside it.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from datetime import datetime, timezone

from energychain_shared import rules
from energychain_shared import events, topics
from energychain_shared.settings import CommonSettings

UTC = timezone.utc
SAMPLE = events.MeterReadingRecorded(
    event_id=events.MeterReadingRecorded.id_for("house-00001", datetime(2021, 7, 1, tzinfo=UTC)),
    occurred_at=datetime(2021, 7, 1, 1, tzinfo=UTC), producer="meter-ingest", house_id="house-00001",
    interval_start=datetime(2021, 7, 1, tzinfo=UTC), solar_wh=2310, home_wh=1130, battery_charged_wh=640,
    battery_discharged_wh=0, grid_import_wh=0, grid_export_wh=540, battery_level_pct=72, imbalance_wh=0,
    source_file="house-00001.csv", source_line=2,
)


async def kafka_ceilings(settings: CommonSettings, count: int) -> dict[str, float]:
    """Produce ``count`` reading-sized records with the project's producer settings, then consume them."""
    from energychain_shared.kafka import delete_topics, ensure_topics, make_consumer, make_producer

    bench = settings.model_copy(update={"topic_prefix": f"ceiling-{uuid.uuid4().hex[:8]}."})
    await ensure_topics(bench, [topics.METER_READINGS])
    name = bench.topic(topics.METER_READINGS)
    payload = events.encode(SAMPLE)
    keys = [f"house-{i:05d}".encode() for i in range(1000)]
    producer = make_producer(bench, client_id="bench", linger_ms=20, max_batch_size=1_000_000)
    await producer.start()
    started = time.perf_counter()
    futures = [await producer.send(name, payload, key=keys[i % 1000]) for i in range(count)]
    await asyncio.gather(*futures)
    produce_s = time.perf_counter() - started
    await producer.stop()
    consumer = make_consumer(bench, name, group_id=f"{bench.topic_prefix}bench", client_id="bench",
                             max_poll_records=10_000)
    await consumer.start()
    started = time.perf_counter()
    received = 0
    while received < count:
        for records in (await consumer.getmany(timeout_ms=1000)).values():
            received += len(records)
    consume_s = time.perf_counter() - started
    await consumer.stop()
    await delete_topics(bench, [topics.METER_READINGS])
    return {"kafka_produce_per_s": count / produce_s, "kafka_consume_per_s": count / consume_s}


async def copy_ceiling(settings: CommonSettings, count: int) -> float:
    """Rows/s of asyncpg COPY into a temporary table shaped like the ledger's entries (keys and indexes too)."""
    import asyncpg

    connection = await asyncpg.connect(settings.asyncpg_dsn)
    try:
        await connection.execute(
            "CREATE TEMP TABLE bench_entries (tree_id integer, seq bigint, entry_id text, kind text, "
            "event_time timestamptz, record_time timestamptz, entry bytea, leaf bytea, signature text, "
            "PRIMARY KEY (tree_id, seq))"
        )
        await connection.execute("CREATE INDEX ON bench_entries (entry_id)")
        entry = rules.canonical_json({"body": SAMPLE.model_dump(mode="json"), "channels": ["resident:house-00001"]})
        now = datetime.now(UTC)
        rows = [
            (i % 1000 + 1, i // 1000 + 1, str(uuid.uuid4()), "meter_reading", now, now, entry,
             hashlib.sha256(b"%d" % i).digest(), "")
            for i in range(count)
        ]
        started = time.perf_counter()
        for chunk in range(0, count, 5000):
            async with connection.transaction():
                await connection.copy_records_to_table("bench_entries", records=rows[chunk:chunk + 5000])
        return count / (time.perf_counter() - started)
    finally:
        await connection.close()


async def measure(settings: CommonSettings, *, kafka_records: int = 200_000, copy_rows: int = 100_000) -> dict[str, float]:
    """Every ceiling, rounded: Kafka produce and consume (records/s), COPY (rows/s)."""
    kafka = await kafka_ceilings(settings, kafka_records)
    copy = await copy_ceiling(settings, copy_rows)
    return {**{k: round(v) for k, v in kafka.items()}, "copy_rows_per_s": round(copy)}
