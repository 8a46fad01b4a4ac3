"""`energychain-ledger bench`: signed producer appends/s into the verifiable log, and latency.

`energychain-ledger bench-readings`: meter readings/s committed and covered by a signed checkpoint,
in the backlog shape and the real-time shape, beside this machine's ceilings; and proof times.

bench, phase 1 (throughput): N producer-signed entries over C channels are published to the
real append topic first, then the real consumer drains them into PostgreSQL (Ed25519 check,
trees, heads, checkpoint, COPY, commit); the rate is entries committed / time from the first
commit to the last. Phase 2 (latency): a separate producer process publishes at a steady rate
while the consumer runs; latency is the record's Kafka timestamp (the broker's append time) ->
the commit of the batch and of the checkpoint that covers it (one transaction), per entry.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

from energychain_ledger.bootstrap import open_ledger
from energychain_ledger.settings import LedgerSettings
from energychain_shared import keys as key_files
from energychain_shared.events import MeterReadingRecorded, encode
from energychain_shared.kafka import ensure_topics, make_producer
from energychain_shared.ledger_client import signed_append
from energychain_shared import ceilings
from energychain_shared.consumer import Stream, run_streams
from energychain_shared.topics import LEDGER_APPENDS, LEDGER_CHECKPOINTS, LEDGER_DEAD_LETTERS, METER_READINGS

T0 = datetime(2024, 1, 1, 8, tzinfo=timezone.utc)


def reading_appends(*, run: str, start: int, count: int, channels: int, keys_dir) -> list[tuple[bytes, bytes]]:
    """(key, value) records of signed reading entries spread over ``channels`` resident channels."""
    key = key_files.load_private_key(keys_dir, "meter-ingest")
    records = []
    for i in range(start, start + count):
        house = f"bench-{run}-{i % channels:05d}"
        hour = T0 + timedelta(hours=i // channels)
        request = signed_append(
            key=key, producer="meter-ingest", entry_id=f"{run}-{i}", channels=[f"resident:{house}"],
            kind="MeterReadingRecorded", occurred_at=hour,
            body={"house_id": house, "interval_start": hour.isoformat(), "solar_wh": 1800 + i % 500,
                  "home_wh": 900 + i % 300, "grid_import_wh": 0, "grid_export_wh": 650,
                  "battery_charged_wh": 250, "battery_discharged_wh": 0},
        )
        records.append((f"resident:{house}".encode(), encode(request)))
    return records


async def _produce(
    settings: LedgerSettings, records: list[tuple[bytes, bytes]], *, rate: float | None, topic: str | None = None
) -> float:
    producer = make_producer(settings, client_id="ledger-bench", linger_ms=2)
    await producer.start()
    topic = topic or settings.topic(LEDGER_APPENDS)
    started = time.perf_counter()
    try:
        futures = []
        for n, (key, value) in enumerate(records):
            if rate is not None and n % 50 == 0:
                ahead = started + n / rate - time.perf_counter()
                if ahead > 0:
                    await asyncio.sleep(ahead)
            futures.append(await producer.send(topic, value=value, key=key))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.perf_counter() - started


def _produce_process(settings_json: str, records: list[tuple[bytes, bytes]], rate: float) -> None:
    asyncio.run(_produce(LedgerSettings.model_validate_json(settings_json), records, rate=rate))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _spawn_consumers(settings: LedgerSettings, group: str, count: int) -> list[subprocess.Popen]:
    env = {**os.environ, "EC_TOPIC_PREFIX": settings.topic_prefix, "EC_PG_DATABASE": settings.pg_database,
           "EC_LEDGER_CONSUMER_GROUP": group,
           "EC_LOG_LEVEL": "WARNING"}
    return [
        subprocess.Popen([sys.executable, "-m", "energychain_ledger.cli", "consume", "--client-id", f"bench-{n}"],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for n in range(count)
    ]


async def run_bench(settings: LedgerSettings, *, entries: int, channels: int, rate: int,
                    latency_seconds: float, consumers: int = 1) -> dict[str, object]:
    """Run both phases on a fresh topic prefix and return the measured figures."""
    run = uuid.uuid4().hex[:8]
    settings = settings.model_copy(update={"topic_prefix": f"{settings.topic_prefix}bench-{run}."})
    await ensure_topics(settings, [LEDGER_APPENDS, LEDGER_DEAD_LETTERS, LEDGER_CHECKPOINTS])
    keys_dir = settings.resolved_keys_dir
    started = time.perf_counter()
    backlog = reading_appends(run=run, start=0, count=entries, channels=channels, keys_dir=keys_dir)
    sign_seconds = time.perf_counter() - started
    produce_seconds = await _produce(settings, backlog, rate=None)

    ledger = await open_ledger(settings, writer=True)
    latencies: list[float] = []
    producer = ledger.make_producer()
    await producer.start()
    group = f"ledger-bench-{run}"
    others = _spawn_consumers(settings, group, consumers - 1)
    kafka_consumer, loop = ledger.make_consumer(group_id=group, producer=producer, latency_sink=latencies)
    stop = asyncio.Event()
    task = asyncio.create_task(run_streams([Stream(kafka_consumer, loop.run)], stop))
    try:
        # Phase 1: drain the backlog. The clock starts at the first commit (after group joins),
        # and only entries committed after it count.
        first, at_first = None, 0
        while (done := await ledger.store.committed_entries()) < entries:
            if first is None and done:
                first, at_first = time.perf_counter(), done
            await asyncio.sleep(0.05)
            if task.done():
                task.result()
        drained = time.perf_counter()
        throughput_seconds = drained - (first or started)
        measured = entries - at_first
        batches_phase1 = loop.batches
        # Phase 2: steady rate from another process, consumer keeps up (or not: then latency grows).
        latencies.clear()
        steady_count = int(rate * latency_seconds)
        steady = reading_appends(run=run, start=entries, count=steady_count, channels=channels, keys_dir=keys_dir)
        context = multiprocessing.get_context("spawn")
        child = context.Process(target=_produce_process, args=(settings.model_dump_json(), steady, float(rate)))
        child.start()
        deadline = time.perf_counter() + latency_seconds * 3 + 30
        while await ledger.store.committed_entries() < entries + steady_count and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        child.join(timeout=30)
    finally:
        stop.set()
        for other in others:
            other.terminate()
        for other in others:
            other.wait(timeout=30)
        await task
        await producer.stop()
    verify_started = time.perf_counter()
    from energychain_ledger.verification import verify_channel

    sample = await verify_channel(ledger.store, ledger.keys, f"resident:bench-{run}-00000",
                                  log_keys=await ledger.log_keys())
    verify_seconds = time.perf_counter() - verify_started
    await ledger.close()
    return {
        "entries": entries,
        "channels": channels,
        "signing_seconds_producer_side": round(sign_seconds, 2),
        "publish_seconds": round(produce_seconds, 2),
        "throughput": {
            "entries_per_second": round(measured / throughput_seconds),
            "seconds": round(throughput_seconds, 2),
            "consumer_instances": consumers,
            "batches_in_bench_process": batches_phase1,
            "note": "backlog drained: verify Ed25519 + trees + heads + signed checkpoint + COPY + commit, "
                    "offsets after commit",
        },
        "latency": {
            "rate_per_second": rate,
            "entries": len(latencies),
            "p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
            "p99_ms": round(_percentile(latencies, 0.99) * 1000, 1) if latencies else None,
            "max_ms": round(max(latencies) * 1000, 1) if latencies else None,
            "note": "broker append time (Kafka timestamp) -> DB commit of the batch holding the entry "
                    "(entries consumed by the bench process's own consumer instance)",
        },
        "verify_sample_channel": {"ok": sample.ok, "entries": sample.entries_checked,
                                  "seconds": round(verify_seconds, 3)},
    }


def bench_readings(*, run: str, count: int, houses: int) -> list[tuple[bytes, bytes]]:
    """(key, value) records of ``count`` MeterReadingRecorded over ``houses`` bench houses, as meter-ingest sends."""
    records = []
    for i in range(count):
        house, start = f"bench-{run}-{i % houses:05d}", T0 + timedelta(hours=i // houses)
        reading = MeterReadingRecorded(
            event_id=MeterReadingRecorded.id_for(house, start), occurred_at=start + timedelta(hours=1),
            producer="meter-ingest", house_id=house, interval_start=start, solar_wh=1800 + i % 500,
            home_wh=900 + i % 300, battery_charged_wh=250, battery_discharged_wh=0, grid_import_wh=0,
            grid_export_wh=650 + i % 500 - i % 300, battery_level_pct=50,
            imbalance_wh=0, source_file="bench.csv", source_line=i + 2,
        )
        records.append((house.encode(), encode(reading)))
    return records


async def _drain(ledger, settings, *, run: str, houses: int, count: int, batch_max: int) -> dict[str, object]:
    """Drain ``count`` pre-published readings with the real readings consumer; rate from first to last commit."""
    ledger.settings = ledger.settings.model_copy(update={"ledger_batch_max": batch_max})
    producer = ledger.make_producer()
    await producer.start()
    kafka_consumer, loop = ledger.make_readings_consumer(
        producer=producer, group_id=f"ledger-readings-bench-{run}-{batch_max}",
        houses={f"bench-{run}-{h:05d}" for h in range(houses)},
    )
    stop = asyncio.Event()
    checkpoints_before = await ledger.store.checkpoint_count()
    task = asyncio.create_task(run_streams([Stream(kafka_consumer, loop.run)], stop))
    try:
        first, at_first, batches_at_first = None, 0, 0
        while (done := loop.appended) < count:
            if first is None and done:
                first, at_first, batches_at_first = time.perf_counter(), done, loop.batches
            await asyncio.sleep(0.01)
            if task.done():
                task.result()
        # None when one batch held everything: there is no interval between commits to time.
        seconds = None if first is None else time.perf_counter() - first
    finally:
        stop.set()
        await task
        await producer.stop()
    checkpoints = await ledger.store.checkpoint_count() - checkpoints_before
    timed_batches = loop.batches - batches_at_first
    return {
        "readings": count,
        "batch_max": batch_max,
        "readings_per_second": round((count - at_first) / seconds) if seconds else None,
        "seconds": None if seconds is None else round(seconds, 2),
        "batches": loop.batches,
        "readings_per_batch": round(count / max(1, loop.batches), 1),
        "signed_checkpoints": checkpoints,
        "signatures_per_batch": round(checkpoints / max(1, loop.batches), 2),
        "timed_batches": timed_batches,
    }


async def _proof_times(ledger, *, size: int, samples: int = 200) -> dict[str, object]:
    """Server time of one entry's proof (inclusion in its channel head + that head in the log) in a channel of ``size``."""
    import random

    from energychain_ledger.adapters.wire import parse_append
    from energychain_ledger.domain.log import HEADS_TREE

    key = key_files.load_private_key(ledger.settings.resolved_keys_dir, "billing")
    channel = "resident:bench-proofs"
    for start in range(0, size, 5000):
        await ledger.store.append_batch([
            parse_append(encode(signed_append(key=key, producer="billing", entry_id=f"proof-{i}", channels=[channel],
                                              kind="BenchProof", occurred_at=T0, body={"i": i})), keys=ledger.keys)
            for i in range(start, min(size, start + 5000))
        ])
    tree = (await ledger.store.channel(channel)).tree_id
    head = await ledger.store.head(channel)
    checkpoint = await ledger.store.checkpoint()
    picks = random.Random(7).sample(range(size), min(samples, size))
    times = []
    for index in picks:
        started = time.perf_counter()
        await ledger.store.inclusion_proofs(tree, [index], head.size)
        await ledger.store.inclusion_proofs(HEADS_TREE, [head.log_index], checkpoint["size"])
        times.append(time.perf_counter() - started)
    return {
        "channel_size": size, "proofs": len(times),
        "p50_ms": round(statistics.median(times) * 1000, 2), "p99_ms": round(_percentile(times, 0.99) * 1000, 2),
        "max_ms": round(max(times) * 1000, 2),
        "note": "server time of the two inclusion proofs behind /channels/{c}/proofs for one entry",
    }


async def run_readings_bench(settings: LedgerSettings, *, readings: int, houses: int,
                             proof_channel_size: int = 10_000) -> dict[str, object]:
    """Readings/s committed and checkpointed, backlog and real-time shapes, beside the ceilings; proof times."""
    ceiling = await ceilings.measure(settings, kafka_records=min(readings, 200_000), copy_rows=min(readings, 100_000))
    run = uuid.uuid4().hex[:8]
    settings = settings.model_copy(update={"topic_prefix": f"{settings.topic_prefix}bench-{run}."})
    await ensure_topics(settings, [METER_READINGS, LEDGER_DEAD_LETTERS, LEDGER_CHECKPOINTS])
    # Hour-major order, as meter-ingest publishes: every house's hour h before any house's hour h + 1.
    backlog = bench_readings(run=run, count=readings, houses=houses)
    produce_seconds = await _produce(settings, backlog, rate=None, topic=settings.topic(METER_READINGS))
    ledger = await open_ledger(settings, writer=True)
    try:
        shapes = {"backlog": await _drain(ledger, settings, run=run, houses=houses, count=readings,
                                          batch_max=settings.ledger_batch_max)}
        # The real-time shape: a batch holds one reading per house (one simulated hour of the fleet).
        # A topic of its own, so its consumer does not read the backlog's readings too.
        realtime_run = f"{run}r"
        ledger.settings = ledger.settings.model_copy(update={"topic_prefix": f"{settings.topic_prefix}rt."})
        await ensure_topics(ledger.settings, [METER_READINGS, LEDGER_CHECKPOINTS, LEDGER_DEAD_LETTERS])
        realtime = bench_readings(run=realtime_run, count=readings, houses=houses)
        await _produce(ledger.settings, realtime, rate=None, topic=ledger.settings.topic(METER_READINGS))
        shapes["real_time"] = await _drain(ledger, settings, run=realtime_run, houses=houses, count=readings,
                                           batch_max=houses)
        proofs = await _proof_times(ledger, size=proof_channel_size)
        from energychain_ledger.verification import verify_channel

        sample = await verify_channel(ledger.store, ledger.keys, f"resident:bench-{run}-00000",
                                      log_keys=await ledger.log_keys())
    finally:
        await ledger.close()
    for shape in shapes.values():
        rate = shape["readings_per_second"]
        shape["share_of_copy_ceiling"] = None if rate is None else round(rate / ceiling["copy_rows_per_s"], 2)
        shape["share_of_kafka_produce_ceiling"] = (None if rate is None else
                                                   round(rate / ceiling["kafka_produce_per_s"], 2))
    return {
        "houses": houses,
        "publish_seconds": round(produce_seconds, 2),
        "ceilings": ceiling,
        "shapes": shapes,
        "proofs": proofs,
        "note": "parse + canonical entry bytes + leaves, trees, heads, one signed checkpoint per batch, COPY, "
                "commit, offsets after commit; clock from the first commit to the last",
        "verify_sample_channel": {"ok": sample.ok, "entries": sample.entries_checked},
    }
