"""Houses enrolled while the ledger runs: their readings land on a channel created live, with their
municipality as member; no restart, and the seed file need not know them."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from aiokafka import TopicPartition

from energychain_ledger.bootstrap import open_ledger
from energychain_ledger.domain.access import member_key
from energychain_shared import events, topics
from energychain_shared.channels import municipality_channel, resident_channel
from energychain_shared.kafka import ensure_topics, make_producer
from energychain_shared.registry import Contract, Municipality, Resident

pytestmark = pytest.mark.integration
UTC = timezone.utc


async def _send(settings, topic: topics.Topic, *items: events.Event) -> None:
    producer = make_producer(settings, client_id="ledger-test-registry")
    await producer.start()
    try:
        for item in items:
            await (await producer.send(settings.topic(topic), events.encode(item), key=item.partition_key.encode()))
    finally:
        await producer.stop()


def _enrolment(town: str, house: str) -> tuple[events.Event, events.Event]:
    municipality = Municipality(municipality_id=town, name=town.title())
    resident = Resident(house_id=house, username=f"user-{house}", name="New Resident", address="1 Main St",
                        municipality_id=town, contract=Contract(rate_usd_per_kwh=Decimal("0.2"), battery_wh=10_000,
                                                                reserve_wh=1_000, start_date=date(2022, 1, 1)))
    return (
        events.MunicipalityOnboarded(event_id=events.MunicipalityOnboarded.id_for(municipality),
                                     occurred_at=datetime(2022, 1, 1, tzinfo=UTC), producer="billing",
                                     municipality=municipality),
        events.ResidentEnrolled(event_id=events.ResidentEnrolled.id_for(resident),
                                occurred_at=datetime(2022, 1, 1, 8, tzinfo=UTC), producer="billing", resident=resident),
    )


def _reading(house: str, start: datetime) -> events.MeterReadingRecorded:
    return events.MeterReadingRecorded(
        event_id=events.MeterReadingRecorded.id_for(house, start), occurred_at=start + timedelta(hours=1),
        producer="meter-ingest", house_id=house, interval_start=start, solar_wh=0, home_wh=900,
        battery_charged_wh=0, battery_discharged_wh=900, grid_import_wh=0, grid_export_wh=0, battery_level_pct=40,
        imbalance_wh=0, source_file="test.csv", source_line=2,
    )


async def test_a_house_enrolled_after_the_ledger_started_gets_its_channel_and_readings(
    ledger_settings, tmp_path, unique, wait_until,
):
    settings = ledger_settings.model_copy(update={
        "topic_prefix": f"{ledger_settings.topic_prefix}live-{unique}.", "registry_path": tmp_path / "none.json",
    })
    await ensure_topics(settings, [topics.PROGRAM_REGISTRY, topics.METER_READINGS, topics.LEDGER_CHECKPOINTS,
                                   topics.LEDGER_DEAD_LETTERS])
    town, house = f"fowler-{unique}", f"house-{unique}"
    ledger = await open_ledger(settings, writer=True, follow_registry=True)
    try:
        assert house not in ledger.registry.by_house and await ledger.store.channel(resident_channel(house)) is None
        onboarded, enrolled = _enrolment(town, house)
        # Enrolled, then its first reading, with no sync in between: the readings consumer reads the
        # registry to its end when it meets the unknown house.
        await _send(settings, topics.PROGRAM_REGISTRY, onboarded, enrolled)
        await _send(settings, topics.METER_READINGS, _reading(house, datetime(2022, 1, 2, 8, tzinfo=UTC)))
        producer = ledger.make_producer(client_id="ledger-test-live-dlq")
        await producer.start()
        consumer, loop = ledger.make_readings_consumer(producer=producer, group_id=f"live-{unique}")
        await consumer.start()
        stop = asyncio.Event()
        task = asyncio.create_task(loop.run(stop))
        try:
            async def recorded() -> bool:
                assert not task.done(), task.exception() if task.done() else None
                return loop.appended == 1
            await wait_until(recorded)
        finally:
            stop.set()
            await task
            await consumer.stop()
            await producer.stop()

        channel = await ledger.store.channel(resident_channel(house))
        assert channel is not None and channel.municipality_id == town
        own = member_key(role="municipality", house_id=None, municipality_id=town)
        assert await ledger.store.is_member(resident_channel(house), own)
        assert await ledger.store.is_member(municipality_channel(town), own)
        other = member_key(role="municipality", house_id=None, municipality_id="parlier")
        assert not await ledger.store.is_member(resident_channel(house), other)
    finally:
        await ledger.close()
