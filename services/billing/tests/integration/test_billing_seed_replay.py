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
from decimal import Decimal

import pytest

from energychain_shared import events, topics

pytestmark = pytest.mark.integration


async def test_every_seed_invoice_equals_the_amounts_computed_from_the_csv_files(
    infrastructure, seed_topics, seed_data_dir, tmp_path, kit
):
    prefix, last_watermark = seed_topics
    settings = kit.billing_settings(infrastructure, tmp_path / "keys", topic_prefix=prefix)
    await kit.migrated(settings)
    expected = kit.expected_for_seed(seed_data_dir, last_watermark)
    total = sum(len(periods) for periods in expected.values())
    assert total >= 30  # about eleven closed months per house

    worker = await kit.start_worker(settings)
    try:
        await kit.wait_until(lambda: kit.count_invoices(settings), total, what="every closed month invoiced")
        await asyncio.sleep(1)  # nothing beyond the closed months may follow
        assert await kit.invoices_in(settings) == expected
    finally:
        await worker.close()

    # The published invoices are the stored ones, on their house's partition. (Other tests of this
    # session bill the same topics, so an invoice may be on the topic more than once: always the
    # same event, which consumers take once by its id.)
    published = [
        (partition, event) for partition, event in await kit.read_topic(settings, settings.topic(topics.INVOICES))
        if isinstance(event, events.InvoiceIssued)
    ]
    assert {e.invoice_id for _, e in published} == {
        f"{house}.{period}" for house, periods in expected.items() for period in periods
    }
    by_id: dict[str, set[bytes]] = {}
    for _, event in published:
        by_id.setdefault(event.invoice_id, set()).add(events.encode(event))
    assert all(len(versions) == 1 for versions in by_id.values())
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
    expected = kit.expected_for_seed(seed_data_dir, last_watermark)
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
    invoiced_before_last_start = await kit.count_invoices(settings)
    process = await asyncio.create_subprocess_exec(*command, env=env)
    try:
        await kit.wait_until(lambda: kit.count_invoices(settings), total, what="every closed month invoiced after restarts")
        await asyncio.sleep(2)
        assert await kit.invoices_in(settings) == expected
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
