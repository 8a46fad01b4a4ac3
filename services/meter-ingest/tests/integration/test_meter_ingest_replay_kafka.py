"""Replays through the real broker, consumed back from Kafka."""

import asyncio
import csv
import uuid
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from energychain_shared import events, keys, topics
from energychain_shared.auth import Principal, Role, issue_token

from energychain_meter_ingest.adapters.csv_source import HouseSource, load_manifest
from energychain_meter_ingest.adapters.fleet_files import generate_fleet
from energychain_meter_ingest.api import create_app
from energychain_meter_ingest.bootstrap import build_replay, open_publisher
from energychain_meter_ingest.settings import MeterIngestSettings

pytestmark = pytest.mark.integration
SEED_FILES = {
    "house-01": "HourlyHouse01-27June2021-23July2022.csv",
    "house-02": "HourlyHouse02-18July2021-23July2022.csv",
    "house-03": "HourlyHouse03-08August2021-30July2022.csv",
}
ENERGY = ("battery_discharged_wh", "battery_charged_wh", "solar_wh", "home_wh", "grid_export_wh", "grid_import_wh")


def own_settings(infrastructure, tmp_path: Path, **extra) -> MeterIngestSettings:
    """This test's settings: its own topics under the session prefix and its own run dir."""
    values = dict(infrastructure.model_dump())
    values.update(topic_prefix=f"{infrastructure.topic_prefix}mi-{uuid.uuid4().hex[:6]}.", run_dir=tmp_path, **extra)
    return MeterIngestSettings(**values)


async def consume_all(settings: MeterIngestSettings, topic: topics.Topic) -> list[tuple[int, events.Event]]:
    """Every event on ``topic`` from the beginning to the current end, with its partition."""
    name = settings.topic(topic)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False,
                                isolation_level="read_committed", max_poll_records=5000)
    await consumer.start()
    try:
        partitions = [TopicPartition(name, p) for p in range(topic.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        out: list[tuple[int, events.Event]] = []
        while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, records in batch.items():
                out.extend((tp.partition, events.decode(r.value)) for r in records)
        return out
    finally:
        await consumer.stop()


def file_totals(path: Path) -> tuple[int, dict[str, int]]:
    """Independent count and per-column Wh totals of an export (csv module + Decimal)."""
    columns = {
        "BATTERY DISCHARGED (kWh)": "battery_discharged_wh", "BATTERY CHARGED (kWh)": "battery_charged_wh",
        "SOLAR PRODUCTION (kWh)": "solar_wh", "HOME CONSUMPTION (kWh)": "home_wh",
        "GRID EXPORTED (kWh)": "grid_export_wh", "GRID IMPORTED (kWh)": "grid_import_wh",
    }
    totals = dict.fromkeys(columns.values(), Decimal(0))
    rows = 0
    with open(path, newline="") as handle:
        for record in csv.DictReader(handle):
            rows += 1
            for column, field in columns.items():
                totals[field] += Decimal(record[column])
    return rows, {field: int(total * 1000) for field, total in totals.items()}


async def test_seed_exports_replay_once_per_house_hour_with_exact_energy_totals(infrastructure, seed_data_dir, tmp_path):
    settings = own_settings(infrastructure, tmp_path)
    sources = [HouseSource(house, seed_data_dir / name) for house, name in SEED_FILES.items()]
    replay = build_replay(settings, sources, replay_id="seed")
    async with open_publisher(settings) as publisher:
        await replay.run(publisher, speed=None)

    consumed = await consume_all(settings, topics.METER_READINGS)
    dead = await consume_all(settings, topics.METER_DEAD_LETTERS)
    readings = [e for _, e in consumed if isinstance(e, events.MeterReadingRecorded)]
    # The seed exports have no row that fails validation: the two fall-back rows are two hours,
    # fractional battery levels are rounded; so every data row is one reading and none is dead-lettered.
    assert dead == []
    for house, name in SEED_FILES.items():
        rows, expected = file_totals(seed_data_dir / name)
        mine = [r for r in readings if r.house_id == house]
        assert len(mine) == rows
        assert len({r.interval_start for r in mine}) == rows
        assert {f: sum(getattr(r, f) for r in mine) for f in ENERGY} == expected
    assert len({r.event_id for r in readings}) == len(readings)
    assert replay.counters.published == len(readings)

    # In-band watermarks: every partition got each hour's watermark after that hour's readings.
    watermark_times: dict[int, list[datetime]] = defaultdict(list)
    for partition, event in consumed:
        if isinstance(event, events.ClockWatermarkReached):
            assert event.partition == partition
            watermark_times[partition].append(event.sim_time)
        elif watermark_times[partition]:
            assert event.interval_start >= watermark_times[partition][-1]
    assert len(watermark_times) == topics.METER_READINGS.partitions
    last_end = max(r.interval_end for r in readings)
    assert all(times[-1] == last_end for times in watermark_times.values())
    clock = [e for _, e in await consume_all(settings, topics.CLOCK)]
    assert clock[-1].sim_time == last_end and len({e.sim_time for e in clock}) == len(clock)


def small_fleet(tmp_path: Path, houses: int = 4, days: int = 3) -> Path:
    out = tmp_path / "fleet"
    generate_fleet(houses=houses, municipalities=2, start=date(2021, 11, 6), end=date(2021, 11, 6) + timedelta(days=days),
                   seed=5, out=out)
    return out


async def test_restart_in_the_middle_of_a_replay_loses_nothing_and_duplicates_nothing(infrastructure, tmp_path):
    fleet = small_fleet(tmp_path)
    settings = own_settings(infrastructure, tmp_path, registry_path=fleet / "registry.json")
    sources = load_manifest(fleet / "manifest.json")
    first = build_replay(settings, sources, replay_id="restart")
    stop_at = datetime(2021, 11, 7, 12, tzinfo=timezone.utc)
    async with open_publisher(settings) as publisher:
        await first.run(publisher, speed=None, until=stop_at)
    checkpoint = first.checkpoints.load()
    assert checkpoint is not None and checkpoint.last_hour_start == stop_at - timedelta(hours=1)
    assert 0 < first.counters.published < 4 * (3 * 24 + 1)

    second = build_replay(settings, sources, replay_id="restart")  # a new process would start like this
    async with open_publisher(settings) as publisher:
        await second.run(publisher, speed=None)

    readings = [e for _, e in await consume_all(settings, topics.METER_READINGS) if isinstance(e, events.MeterReadingRecorded)]
    expected = 4 * (3 * 24 + 1)  # three local days, one with the extra fall-back hour
    assert first.counters.published + second.counters.published == expected
    assert len(readings) == expected
    assert len({r.event_id for r in readings}) == expected
    assert Counter(r.house_id for r in readings) == {s.house_id: 3 * 24 + 1 for s in sources}
    assert second.checkpoints.load().readings_published == expected


async def test_ops_api_runs_a_replay_for_the_gsa_only_and_counts_dead_letters(infrastructure, tmp_path):
    fleet = small_fleet(tmp_path, houses=2, days=1)
    unknown = tmp_path / "stranger.csv"
    unknown.write_text((fleet / "house-00001.csv").read_text())
    settings = own_settings(infrastructure, tmp_path, registry_path=fleet / "registry.json")
    sources = [*load_manifest(fleet / "manifest.json"), HouseSource("house-99999", unknown)]
    keys_dir = tmp_path / "keys"
    keys.ensure_key_pair(keys_dir, keys.TOKEN_KEY)
    signing = keys.load_private_key(keys_dir, keys.TOKEN_KEY)
    gsa = issue_token(signing, Principal(role=Role.GSA, subject="op"), ttl=timedelta(minutes=5))
    resident = issue_token(signing, Principal(role=Role.RESIDENT, subject="luis", house_id="house-01"),
                           ttl=timedelta(minutes=5))
    app = create_app(settings, sources, token_public_key=keys.load_public_key(keys_dir, keys.TOKEN_KEY))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            assert (await client.get("/replay/status")).status_code == 401
            assert (await client.get("/replay/status", headers={"Authorization": f"Bearer {resident}"})).status_code == 403
            auth = {"Authorization": f"Bearer {gsa}"}
            bad = await client.post("/replay/start", json={"speed": "warp"}, headers=auth)
            assert bad.status_code == 422 and "speed" in bad.text
            started = await client.post("/replay/start", json={"speed": "max"}, headers=auth)
            assert started.status_code == 202
            for _ in range(200):
                status = (await client.get("/replay/status", headers=auth)).json()
                if status["state"] in {"finished", "failed"}:
                    break
                await asyncio.sleep(0.1)
            assert status["state"] == "finished", status
            assert status["published"] == 2 * 24 and status["dead_lettered"] == 24
            for _ in range(100):  # the listing follows the dead-letter topic
                listing = (await client.get("/dead-letters", headers=auth)).json()
                if listing["caught_up"] and listing["total"] == 24:
                    break
                await asyncio.sleep(0.1)
            assert (listing["total"], listing["by_reason"]) == (24, {"unknown_house": 24})
            assert listing["this_process"] == {"total": 24, "by_reason": {"unknown_house": 24}}
            assert (await client.get("/healthz")).json() == {"status": "ok"}
            assert "meter_ingest_readings_published_total" in (await client.get("/metrics")).text
    dead = [e for _, e in await consume_all(settings, topics.METER_DEAD_LETTERS)]
    assert len(dead) == 24 and {(e.reason, e.house_id, e.source_file) for e in dead} == {
        ("unknown_house", "house-99999", "stranger.csv")
    }


async def test_a_replay_until_an_instant_past_its_last_reading_runs_the_clock_on_to_that_instant(infrastructure, tmp_path):
    """An ended contract's final invoice waits for the clock to pass its end and the grace: the clock does not
    stop at the exports' last hour when the GSA asks for a later one."""
    fleet = small_fleet(tmp_path, houses=2, days=1)
    settings = own_settings(infrastructure, tmp_path, registry_path=fleet / "registry.json")
    sources = load_manifest(fleet / "manifest.json")
    replay = build_replay(settings, sources, replay_id="run-on")
    async with open_publisher(settings) as publisher:
        await replay.run(publisher, speed=None)
    last_reading_end = replay.checkpoints.load().last_hour_start + timedelta(hours=1)
    until = last_reading_end + timedelta(hours=50)
    async with open_publisher(settings) as publisher:  # a later start, as POST /replay/start {"until": ...}
        counters = await replay.run(publisher, speed=None, until=until)
    assert counters.published == 2 * 24  # the first run's (one local day); the second published no reading
    clock = [e for _, e in await consume_all(settings, topics.CLOCK)]
    assert clock[-1].sim_time == until
    assert [e.sim_time for e in clock if e.sim_time > last_reading_end] == [
        last_reading_end + timedelta(hours=h) for h in range(1, 51)]
    marks = [e for _, e in await consume_all(settings, topics.METER_READINGS)
             if isinstance(e, events.ClockWatermarkReached)]
    assert {m.partition for m in marks if m.sim_time == until} == set(range(topics.METER_READINGS.partitions))
