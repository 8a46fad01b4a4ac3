"""The three seed exports replayed through the real broker: every monthly invoice, checked from the CSVs.

meter-ingest's replay publishes the exports (with their in-band watermarks) to Kafka;
billing's worker consumes them and invoices each month when the simulated clock passes
its end plus the grace period. The expected amounts are computed here from the CSV
files and PRODUCT.md's rules, independently of billing's code.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import uuid
from datetime import datetime
from decimal import Decimal

import asyncpg
import pytest

from energychain_shared import events, topics
from energychain_shared.registry import load_registry

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def seed_topics(infrastructure, seed_data_dir, tmp_path_factory, kit):
    """The seed exports replayed once into topics of their own; returns (common values, last watermark)."""
    from energychain_meter_ingest.adapters.csv_source import HouseSource
    from energychain_meter_ingest.bootstrap import build_replay, open_publisher
    from energychain_meter_ingest.settings import MeterIngestSettings

    prefix = f"{infrastructure.topic_prefix}bill-{uuid.uuid4().hex[:6]}."
    settings = MeterIngestSettings(
        **{**infrastructure.model_dump(), "topic_prefix": prefix, "run_dir": tmp_path_factory.mktemp("ingest")}
    )
    sources = [HouseSource(house, seed_data_dir / name) for house, name in kit.SEED_FILES.items()]

    async def replay() -> datetime:
        from energychain_shared.kafka import ensure_topics

        await ensure_topics(settings)
        run = build_replay(settings, sources, replay_id="billing-seed")
        async with open_publisher(settings) as publisher:
            await run.run(publisher, speed=None)
        return datetime.fromisoformat(run.status()["sim_time"])

    last = asyncio.run(replay())
    return prefix, last


def expected_for_seed(kit, seed_data_dir, until: datetime) -> dict[str, dict[str, tuple[list, int]]]:
    registry = load_registry(billing_settings_path())
    out = {}
    for house, name in kit.SEED_FILES.items():
        contract = registry.resident(house).contract
        out[house] = kit.expected_invoices(
            kit.seed_hours(seed_data_dir / name), start_date=contract.start_date, rate=contract.rate_usd_per_kwh,
            until=until,
        )
    return out


def billing_settings_path():
    from energychain_shared.settings import CommonSettings

    return CommonSettings().registry_path


async def invoices_in(settings) -> dict[str, dict[str, tuple[list, int]]]:
    """house -> period -> ([(contract year, PPA line cents)...], total) as billing stored them."""
    connection = await asyncpg.connect(settings.asyncpg_dsn, server_settings={"search_path": settings.billing_db_schema})
    try:
        rows = await connection.fetch("SELECT house_id, period, lines, total_cents FROM invoices ORDER BY period")
    finally:
        await connection.close()
    import json

    out: dict[str, dict] = {}
    for row in rows:
        lines = [
            (int(line["description"].rsplit(" ", 1)[-1].rstrip(")")), line["amount_cents"])
            for line in json.loads(row["lines"]) if line["kind"] == "ppa_energy"
        ]
        out.setdefault(row["house_id"], {})[row["period"]] = (lines, int(row["total_cents"]))
    return out


async def count_invoices(settings) -> int:
    connection = await asyncpg.connect(settings.asyncpg_dsn, server_settings={"search_path": settings.billing_db_schema})
    try:
        return await connection.fetchval("SELECT count(*) FROM invoices")
    finally:
        await connection.close()


async def test_every_seed_invoice_equals_the_amounts_computed_from_the_csv_files(
    infrastructure, seed_topics, seed_data_dir, tmp_path, kit
):
    prefix, last_watermark = seed_topics
    settings = kit.billing_settings(infrastructure, tmp_path / "keys", topic_prefix=prefix)
    await kit.migrated(settings)
    expected = expected_for_seed(kit, seed_data_dir, last_watermark)
    total = sum(len(periods) for periods in expected.values())
    assert total >= 30  # about eleven closed months per house

    worker = await kit.start_worker(settings)
    try:
        await kit.wait_until(lambda: count_invoices(settings), total, what="every closed month invoiced")
        await asyncio.sleep(1)  # nothing beyond the closed months may follow
        assert await invoices_in(settings) == expected
    finally:
        await worker.close()

    # The published invoices are the stored ones, once each, on their house's partition.
    published = [
        (partition, event) for partition, event in await kit.read_topic(settings, settings.topic(topics.INVOICES))
        if isinstance(event, events.InvoiceIssued)
    ]
    assert sorted(e.invoice_id for _, e in published) == sorted(
        f"{house}.{period}" for house, periods in expected.items() for period in periods
    )
    readings_partition = {}
    for partition, event in await kit.read_topic(settings, settings.topic(topics.METER_READINGS)):
        if isinstance(event, events.MeterReadingRecorded):
            readings_partition[event.house_id] = partition
    assert all(partition == readings_partition[e.house_id] for partition, e in published)
    # An invoice's first-year rate is the contract rate, the second year's escalated by 2 %.
    june = next(e for _, e in published if e.invoice_id == "house-01.2022-06")
    assert [line.rate_usd_per_kwh for line in june.lines if line.kind == "ppa_energy"] == [
        Decimal("0.230000"), Decimal("0.234600")
    ]


async def test_sigkilled_worker_restarted_at_random_points_issues_the_same_invoices_once(
    infrastructure, seed_topics, seed_data_dir, tmp_path, kit
):
    prefix, last_watermark = seed_topics
    settings = kit.billing_settings(infrastructure, tmp_path / "keys", topic_prefix=prefix)
    await kit.migrated(settings)
    expected = expected_for_seed(kit, seed_data_dir, last_watermark)
    total = sum(len(periods) for periods in expected.values())
    env = {
        **os.environ,
        "EC_TOPIC_PREFIX": prefix, "EC_PG_DATABASE": settings.pg_database, "EC_KEYS_DIR": str(settings.keys_dir),
        "EC_BILLING_DB_SCHEMA": settings.billing_db_schema, "EC_BILLING_GROUP": settings.billing_group,
        "EC_BILLING_READINGS_BATCH": "500", "EC_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "energychain_billing", "worker"]
    rng = random.Random(20211)
    kills = 0
    for _ in range(3):
        process = await asyncio.create_subprocess_exec(*command, env=env)
        await asyncio.sleep(rng.uniform(2.5, 5.0))
        if process.returncode is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        await process.wait()
    invoiced_before_last_start = await count_invoices(settings)
    process = await asyncio.create_subprocess_exec(*command, env=env)
    try:
        await kit.wait_until(lambda: count_invoices(settings), total, what="every closed month invoiced after restarts")
        await asyncio.sleep(2)
        assert await invoices_in(settings) == expected
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)
    assert kills >= 2 and invoiced_before_last_start < total  # the kills really interrupted the work

    # Each invoice reached the topic (a re-sent event carries the same id and changes nothing downstream).
    published = {
        e.invoice_id for _, e in await kit.read_topic(settings, settings.topic(topics.INVOICES))
        if isinstance(e, events.InvoiceIssued)
    }
    assert published == {f"{house}.{period}" for house, periods in expected.items() for period in periods}
