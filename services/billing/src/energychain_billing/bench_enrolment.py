"""Benchmark: bulk enrolment of a generated fleet through the administration API, then a replay of it billed.

A fleet is generated (meter-ingest's generator: one export per house and its registry).
Billing starts on throwaway topics and a throwaway schema with an empty seed registry,
so every house comes through the API: its municipalities one request each, its houses
in one CSV upload. Then: how long a service takes to fold the registry topic from its
beginning (what each one pays at start); the fleet's days replayed flat out by
meter-ingest (whose replay reads the registry topic for the houses' time zones); and
billing's worker, running since before the enrolment, recording every house-hour.
The ceilings (raw Kafka produce/consume, raw COPY) are measured in the same run.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from energychain_shared import ceilings, keys, outbox, topics
from energychain_shared.auth import Principal, Role, issue_token
from energychain_shared.kafka import delete_topics, ensure_topics, make_producer
from energychain_shared.migrations import drop_schema, upgrade_async
from energychain_shared.registry import load_registry
from energychain_shared.registry_feed import RegistryFeed
from energychain_shared.settings import REPO_ROOT

from energychain_billing.adapters import repository
from energychain_billing.api import create_app
from energychain_billing.bench import bench_settings
from energychain_billing.bootstrap import build_context
from energychain_billing.domain.enrolment import COLUMNS
from energychain_billing.settings import BillingSettings
from energychain_billing.worker import run_worker


def fleet_csv(registry_path: Path) -> tuple[list[dict], bytes]:
    """The fleet registry's municipalities (JSON bodies) and its residents as a bulk enrolment file."""
    registry = load_registry(registry_path)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for r in registry.residents:
        c = r.contract
        writer.writerow([r.house_id, r.username, r.name, r.address, r.municipality_id, c.rate_usd_per_kwh,
                         c.escalator_percent, c.battery_wh, c.reserve_wh, c.start_date.isoformat(), c.billing_basis])
    return [m.model_dump(mode="json") for m in registry.municipalities], out.getvalue().encode()


async def _run(bench: BillingSettings, fleet: Path) -> dict:
    from energychain_meter_ingest.bootstrap import build_replay, open_publisher, resolve_sources
    from energychain_meter_ingest.settings import MeterIngestSettings

    await ensure_topics(bench)
    await upgrade_async(bench, package="energychain_billing", schema=bench.billing_db_schema)
    municipalities, body = fleet_csv(fleet / "registry.json")
    ctx = await build_context(bench, pool_size=4)
    producer = make_producer(bench, client_id="billing-bench-enrolment")
    await producer.start()
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(ctx, producer, stop))
    app = create_app(bench, context=ctx, producer=producer)
    token = issue_token(keys.load_private_key(bench.resolved_keys_dir, keys.TOKEN_KEY),
                        Principal(role=Role.GSA, subject="bench"), ttl=timedelta(hours=1))
    headers = {"Authorization": f"Bearer {token}"}
    figures: dict = {}
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://billing",
                                     timeout=600) as client:
            started = time.perf_counter()
            for municipality in municipalities:
                (await client.post("/admin/municipalities", json=municipality, headers=headers)).raise_for_status()
            answer = await client.post("/admin/residents/bulk", content=body,
                                       headers={**headers, "Content-Type": "text/csv"})
            answer.raise_for_status()
            figures["enrolment_s"] = round(time.perf_counter() - started, 2)
            figures["enrolled"] = answer.json()["enrolled"]
            print(f"enrolled {figures['enrolled']:,} houses through the API in {figures['enrolment_s']} s", flush=True)
        started = time.perf_counter()
        async with RegistryFeed(bench, client_id="bench-fold") as fresh:
            figures["registry_fold_s"] = round(time.perf_counter() - started, 2)
            assert len(fresh.registry.residents) == figures["enrolled"]

        ingest = MeterIngestSettings(**{**bench.model_dump(), "run_dir": Path(tempfile.mkdtemp(prefix="enrol-bench-"))})
        replay = build_replay(ingest, resolve_sources(ingest, manifest=fleet / "manifest.json"), replay_id="enrol-bench")
        started = time.perf_counter()
        async with open_publisher(ingest) as publisher:
            await replay.run(publisher, speed=None)
        figures["replay_s"] = round(time.perf_counter() - started, 2)
        figures["readings"] = replay.counters.published
        figures["dead_lettered"] = replay.counters.dead_lettered
        last = datetime.fromisoformat(replay.status()["sim_time"])
        while True:
            async with ctx.engine.connect() as connection:
                done = await repository.partitions_at(connection, last)
                waiting = await outbox.pending(connection)
            if done == topics.METER_READINGS.partitions and waiting == 0:
                break
            if worker.done():
                worker.result()
            await asyncio.sleep(0.2)
        figures["replay_and_billing_s"] = round(time.perf_counter() - started, 2)
        async with ctx.engine.connect() as connection:
            figures["hours_billed"] = await repository.hour_count(connection)
    finally:
        stop.set()
        await worker
        await producer.stop()
        await ctx.close()
    return figures


def run_bench(settings: BillingSettings, *, houses: int, days: int, municipalities: int) -> dict:
    """Generate (or reuse) the fleet, enrol it through the API, replay and bill it; print one JSON line."""
    from energychain_meter_ingest.bench import ensure_fleet

    fleet = REPO_ROOT / "data" / "generated" / f"bench-{houses}x{days}"
    ensure_fleet(fleet, houses=houses, days=days, municipalities=municipalities)
    bench = bench_settings(settings, registry_path=Path(tempfile.mkdtemp(prefix="enrol-bench-")) / "no-seed.json")
    measured = asyncio.run(ceilings.measure(settings))
    try:
        figures = asyncio.run(_run(bench, fleet))
    finally:
        asyncio.run(delete_topics(bench))
        asyncio.run(drop_schema(bench, bench.billing_db_schema))
    per_s = figures["readings"] / figures["replay_and_billing_s"]
    result = {
        "houses": houses, "days": days, **figures, "readings_billed_per_s": round(per_s),
        "ceilings": measured,
        "share_of_kafka_produce": round(per_s / measured["kafka_produce_per_s"], 3),
        "share_of_copy": round(per_s / measured["copy_rows_per_s"], 3),
    }
    print(json.dumps(result))
    return result
