"""Three billing worker processes share the partitions and issue exactly the invoices one would."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from energychain_shared import topics

pytestmark = pytest.mark.integration


async def _assignments(settings) -> list[set[int]]:
    """The meter.readings partitions each member of billing's consumer group holds."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        (response,) = await admin.describe_consumer_groups([f"{settings.topic_prefix}{settings.billing_group}"])
    finally:
        await admin.close()
    readings = settings.topic(topics.METER_READINGS)
    (group,) = response.groups
    members = group[5]
    out = []
    for member in members:
        assignment = ConsumerProtocolMemberAssignment.decode(member[4])
        out.append({p for topic, partitions in assignment.assignment for p in partitions if topic == readings})
    return out


async def test_three_workers_share_the_partitions_and_invoice_exactly_like_one(
    infrastructure, seed_topics, seed_data_dir, tmp_path, kit
):
    prefix, last_watermark = seed_topics
    settings = kit.billing_settings(infrastructure, tmp_path / "keys", topic_prefix=prefix)
    await kit.migrated(settings)
    expected = kit.expected_for_seed(seed_data_dir, last_watermark)
    env = {
        **os.environ, "EC_TOPIC_PREFIX": prefix, "EC_PG_DATABASE": settings.pg_database,
        "EC_KEYS_DIR": str(settings.keys_dir), "EC_BILLING_DB_SCHEMA": settings.billing_db_schema,
        "EC_BILLING_GROUP": settings.billing_group, "EC_BILLING_READINGS_BATCH": "300", "EC_LOG_LEVEL": "WARNING",
    }
    workers = [
        await asyncio.create_subprocess_exec(sys.executable, "-m", "energychain_billing", "worker", env=env)
        for _ in range(3)
    ]
    try:
        async def three_members_with_partitions():
            try:
                held = await _assignments(settings)
            except Exception:  # the group is still forming
                return False
            return len(held) == 3 and all(held) and set().union(*held) == set(range(topics.METER_READINGS.partitions))

        await kit.wait_until(three_members_with_partitions, True, timeout=60, what="three workers sharing the partitions")
        total = sum(len(periods) for periods in expected.values())
        await kit.wait_until(lambda: kit.count_invoices(settings), total, what="every closed month invoiced")
        await asyncio.sleep(2)
        assert await kit.invoices_in(settings) == expected
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.send_signal(signal.SIGTERM)
        await asyncio.gather(*(asyncio.wait_for(w.wait(), 30) for w in workers))
