"""Benchmark: readings billed per second, end to end from meter.readings, for a generated fleet.

A generated fleet (meter-ingest's generator) is first replayed flat out to a throwaway
topic prefix (not timed); then billing's worker consumes it from the beginning into a
throwaway schema: recording every house-hour, closing every month and publishing the
invoices and ledger appends. The figure is readings / seconds until billing's progress
reached the replay's last watermark on every partition, all published.
"""

from __future__ import annotations

import asyncio
import json
import resource
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

from energychain_shared import keys, outbox, topics
from energychain_shared.kafka import delete_topics, ensure_topics, make_producer
from energychain_shared.migrations import drop_schema, upgrade_async
from energychain_shared.settings import REPO_ROOT

from energychain_billing.adapters import repository
from energychain_billing.bootstrap import build_context
from energychain_billing.settings import BillingSettings
from energychain_billing.worker import run_worker


def _replay(settings: BillingSettings, data_dir: Path, *, houses: int, days: int, municipalities: int) -> tuple[int, str]:
    """Replay the fleet into ``settings``' topics; returns (readings, last watermark ISO)."""
    try:
        from energychain_meter_ingest.bench import ensure_fleet
        from energychain_meter_ingest.bootstrap import build_replay, open_publisher, resolve_sources
        from energychain_meter_ingest.settings import MeterIngestSettings
    except ImportError:
        raise SystemExit("energychain-billing bench: needs energychain-meter-ingest installed (deploy/bootstrap.sh)")
    ensure_fleet(data_dir, houses=houses, days=days, municipalities=municipalities)
    ingest = MeterIngestSettings(**{**settings.model_dump(), "run_dir": Path(tempfile.mkdtemp(prefix="billing-bench-"))})
    sources = resolve_sources(ingest, manifest=data_dir / "manifest.json")
    replay = build_replay(ingest, sources, replay_id="billing-bench")

    async def go() -> None:
        await ensure_topics(ingest)
        async with open_publisher(ingest) as publisher:
            await replay.run(publisher, speed=None)

    asyncio.run(go())
    return replay.counters.published, replay.status()["sim_time"]


async def _bill(settings: BillingSettings, last_watermark: str) -> tuple[float, int]:
    await upgrade_async(settings, package="energychain_billing", schema=settings.billing_db_schema)
    ctx = await build_context(settings, pool_size=4)
    producer = make_producer(settings, client_id="billing-bench")
    await producer.start()
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(run_worker(ctx, producer, stop))
    try:
        target = topics.METER_READINGS.partitions
        while True:
            async with ctx.engine.connect() as connection:
                done = await repository.partitions_at(connection, datetime.fromisoformat(last_watermark))
                waiting = await outbox.pending(connection)
            if done == target and waiting == 0:
                break
            if task.done():
                task.result()
            await asyncio.sleep(0.2)
        elapsed = time.perf_counter() - started
        async with ctx.engine.connect() as connection:
            invoices = await repository.invoice_count(connection)
    finally:
        stop.set()
        await task
        await producer.stop()
        await ctx.close()
        await drop_schema(settings, settings.billing_db_schema)
    return elapsed, invoices


def bench_settings(settings: BillingSettings, *, registry_path: Path) -> BillingSettings:
    """``settings`` on a throwaway topic prefix, schema, consumer group and keys of its own (the keys made here)."""
    tag = uuid.uuid4().hex[:8]
    keys_dir = Path(tempfile.mkdtemp(prefix="billing-bench-keys-"))
    for name in ("billing", keys.TOKEN_KEY):
        keys.ensure_key_pair(keys_dir, name)
    return settings.model_copy(update={
        "topic_prefix": f"bench-{tag}.", "registry_path": registry_path, "keys_dir": keys_dir,
        "billing_db_schema": f"billing_bench_{tag}", "billing_group": f"billing-bench-{tag}", "log_level": "WARNING",
    })


def run_bench(settings: BillingSettings, *, houses: int, days: int, municipalities: int, data_dir: Path | None) -> dict:
    """Replay the fleet, bill it, print one JSON line of figures."""
    data_dir = data_dir or REPO_ROOT / "data" / "generated" / f"bench-{houses}x{days}"
    bench = bench_settings(settings, registry_path=data_dir / "registry.json")
    try:
        readings, last = _replay(bench, data_dir, houses=houses, days=days, municipalities=municipalities)
        elapsed, invoices = asyncio.run(_bill(bench, last))
    finally:
        asyncio.run(delete_topics(bench))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "houses": houses, "days": days, "readings": readings, "invoices": invoices, "seconds": round(elapsed, 1),
        "readings_per_s": round(readings / elapsed), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "workers": 1,
    }
    print(json.dumps(result))
    return result
