"""The fleet stream on the real broker: the Parlier year's windows, its alerts, a SIGKILL, two instances, the API.

meter-ingest's replay publishes the three Parlier exports (the seed files, or the project's
generated demo exports of the same houses and dates) with one day of house-02 cut out, into
topics of their own; `energychain-gsa-market fleet` runs as its own process, as deploy/up.sh
starts it. The expected windows are summed here from the CSV files with the csv module,
independently of the stream's code.
"""

from __future__ import annotations

import asyncio
import csv
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from energychain_shared import events, keys, topics
from energychain_shared.auth import Principal, Role, issue_token
from energychain_shared.settings import REPO_ROOT
from energychain_shared.testing import SEED_FILES

from energychain_market import fleet_feed
from energychain_market.fleet import app_id
from energychain_market.settings import MarketSettings

pytestmark = pytest.mark.integration
ZONE = ZoneInfo("America/Los_Angeles")
UTC = timezone.utc
CUT_HOUSE, CUT_DAY = "house-02", "2021-09-15"  # a day the meter sent nothing
FLEET = [str(REPO_ROOT / ".venv" / "bin" / "energychain-gsa-market"), "fleet"]
SUMMED = ("home_wh", "solar_wh", "grid_import_wh", "grid_export_wh", "battery_charged_wh", "battery_discharged_wh",
          "readings")


# ------------------------------------------------------------ the input, twice
@pytest.fixture(scope="module")
def exports(parlier_exports, tmp_path_factory) -> dict[str, Path]:
    """The three exports, house-02's without the rows of CUT_DAY."""
    folder = tmp_path_factory.mktemp("fleet-exports")
    out = {}
    for house, path in parlier_exports.items():
        lines = path.read_text().splitlines(keepends=True)
        if house == CUT_HOUSE:
            lines = [line for line in lines if not line.startswith(CUT_DAY)]
        out[house] = folder / path.name
        out[house].write_text("".join(lines))
    return out


def replay_into(settings: MarketSettings, exports: dict[str, Path], run_dir: Path) -> datetime:
    from energychain_meter_ingest.adapters.csv_source import HouseSource
    from energychain_meter_ingest.bootstrap import build_replay, open_publisher
    from energychain_meter_ingest.settings import MeterIngestSettings

    from energychain_shared.kafka import ensure_topics

    ingest = MeterIngestSettings(**{**settings.model_dump(), "run_dir": run_dir})

    async def go() -> datetime:
        await ensure_topics(ingest)
        run = build_replay(ingest, [HouseSource(h, p) for h, p in exports.items()], replay_id="fleet-test")
        async with open_publisher(ingest) as publisher:
            await run.run(publisher, speed=None)
        return datetime.fromisoformat(run.status()["sim_time"])

    return asyncio.run(go())


def fresh(infrastructure, name: str) -> MarketSettings:
    values = {**infrastructure.model_dump(), "topic_prefix": f"{infrastructure.topic_prefix}{name}-{uuid.uuid4().hex[:6]}."}
    return MarketSettings(**values)


def start_fleet(settings: MarketSettings, log: Path, *, metrics_port: int = 0, **env_overrides: str) -> subprocess.Popen:
    env = {**os.environ, "EC_TOPIC_PREFIX": settings.topic_prefix, "EC_LOG_LEVEL": "WARNING",
           "EC_MARKET_FLEET_METRICS_PORT": str(metrics_port), **env_overrides}
    return subprocess.Popen(FLEET, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, cwd=REPO_ROOT)


def stop(process: subprocess.Popen, sig=signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ------------------------------------------------------------------- outputs
async def read_outputs(settings: MarketSettings) -> tuple[dict, list]:
    """(latest update per (municipality, kind, start, partition), every alert event), as committed."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, isolation_level="read_committed",
                                enable_auto_commit=False)
    await consumer.start()
    try:
        names = (settings.topic(topics.FLEET_WINDOWS), settings.topic(topics.FLEET_ALERTS))
        partitions = [TopicPartition(n, p) for n in names for p in range(topics.KEYED_PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        latest, alerts = {}, []
        while batches := await consumer.getmany(timeout_ms=2000, max_records=10000):
            for records in batches.values():
                for record in records:
                    event = events.decode(record.value)
                    if isinstance(event, events.FleetWindowUpdated):
                        key = (event.municipality_id, event.kind, event.window_start, event.partition)
                        if key not in latest or event.version > latest[key].version:
                            latest[key] = event
                    else:
                        alerts.append(event)
        return latest, alerts
    finally:
        await consumer.stop()


def summed(latest: dict) -> dict[tuple[str, datetime], dict[str, int]]:
    """(kind, start) -> totals over partitions (the demo's houses are all in Parlier)."""
    out: dict = defaultdict(Counter)
    for (_m, kind, start, _p), event in latest.items():
        for name in (*SUMMED, "houses_reporting"):
            out[(kind, start)][name] += getattr(event, name)
    return {key: dict(value) for key, value in out.items()}


def wait_for_outputs(settings: MarketSettings, readings: int, *, timeout: float = 240) -> tuple[dict, list]:
    """Read the outputs until every reading is in an hour window and nothing more arrives."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        latest, alerts = asyncio.run(read_outputs(settings))
        counted = sum(e.readings for (_m, kind, _s, _p), e in latest.items() if kind == "hour")
        state = (counted, len(latest), len(alerts))
        if counted == readings and state == last:
            return latest, alerts
        last = state
        time.sleep(2)
    raise AssertionError(f"fleet outputs incomplete after {timeout} s: {last} (want {readings} readings)")


# -------------------------------------------------------- independent sums
def _wh(text: str) -> int:
    return int(Decimal(text) * 1000)


def expected_from_csv(exports: dict[str, Path]) -> dict[tuple[str, datetime], dict[str, int]]:
    """(kind, start) -> totals and houses reporting, read with the csv module (local wall time; fall back repeats)."""
    out: dict = defaultdict(Counter)
    houses: dict = defaultdict(set)
    columns = {"home_wh": "HOME CONSUMPTION (kWh)", "solar_wh": "SOLAR PRODUCTION (kWh)",
               "grid_import_wh": "GRID IMPORTED (kWh)", "grid_export_wh": "GRID EXPORTED (kWh)",
               "battery_charged_wh": "BATTERY CHARGED (kWh)", "battery_discharged_wh": "BATTERY DISCHARGED (kWh)"}
    for house, path in exports.items():
        seen = set()
        with path.open(newline="") as handle:
            for record in csv.DictReader(handle):
                local = datetime.fromisoformat(record["DATE"].strip())
                fold = 1 if local in seen else 0
                seen.add(local)
                start = local.replace(tzinfo=ZONE, fold=fold).astimezone(UTC)
                day = datetime.combine(local.date(), datetime.min.time(), ZONE).astimezone(UTC)
                for key in (("hour", start), ("day", day)):
                    out[key]["readings"] += 1
                    for name, column in columns.items():
                        out[key][name] += _wh(record[column])
                    houses[key].add(house)
    for key, value in out.items():
        value["houses_reporting"] = len(houses[key])
    return {key: dict(value) for key, value in out.items()}


# ------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def uninterrupted(infrastructure, exports, tmp_path_factory):
    """One fleet process over the whole replay: (settings, latest windows, alerts, readings published)."""
    settings = fresh(infrastructure, "fleet")
    replay_into(settings, exports, tmp_path_factory.mktemp("ingest"))
    expected = expected_from_csv(exports)
    readings = sum(v["readings"] for (kind, _s), v in expected.items() if kind == "hour")
    port = _free_port()
    process = start_fleet(settings, tmp_path_factory.mktemp("fleet-log") / "fleet.log", metrics_port=port)
    try:
        latest, alerts = wait_for_outputs(settings, readings)
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        stop(process)
    counted = [line for line in metrics.splitlines() if line.startswith('fleet_readings_total{outcome="counted"}')]
    assert counted and float(counted[0].split()[-1]) == readings, counted
    return settings, latest, alerts, expected


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def by_key(latest: dict) -> dict:
    """Each window's final totals (how many updates led there depends on the batches, so not the versions)."""
    return {key: (event.final, event.model_dump(include={*SUMMED, "houses_reporting", "readings_unbalanced",
                                                          "reserve_above_contract_wh"}))
            for key, event in latest.items()}


# ---------------------------------------------------------------------- tests
def test_the_windows_of_the_parlier_year_equal_the_sums_of_the_csv_files(uninterrupted):
    _settings, latest, _alerts, expected = uninterrupted
    assert summed(latest) == expected
    assert len([k for k in expected if k[0] == "day"]) > 360
    # Every window but the last grace period's is final; none of those is final.
    last_end = max(e.window_end for e in latest.values())
    for event in latest.values():
        assert event.final == (event.window_end + timedelta(hours=48) <= last_end)


def test_a_meter_silent_for_a_day_raises_a_silent_meter_alert_that_clears_when_it_resumes(uninterrupted):
    _settings, _latest, alerts, _expected = uninterrupted
    first_missing = datetime.fromisoformat(f"{CUT_DAY}T00:00").replace(tzinfo=ZONE).astimezone(UTC)
    raised = [a for a in alerts if isinstance(a, events.FleetAlertRaised) and a.house_id == CUT_HOUSE
              and a.since == first_missing]
    assert {a.kind for a in raised} == {"silent_meter", "missing_hours"}
    silent = next(a for a in raised if a.kind == "silent_meter")
    cleared = [a for a in alerts if isinstance(a, events.FleetAlertCleared) and a.alert_id == silent.alert_id]
    assert [c.cleared_at for c in cleared] == [first_missing + timedelta(hours=24)]  # its first hour back
    assert "24 hour(s) missing" in next(a for a in raised if a.kind == "missing_hours").detail
    # The other two houses never fell silent.
    assert not [a for a in alerts if isinstance(a, events.FleetAlertRaised) and a.kind == "silent_meter"
                and a.house_id != CUT_HOUSE and a.since.year == 2021 and a.since.month < 12]


def test_a_fleet_process_killed_mid_replay_recovers_its_tables_and_ends_with_the_same_windows_and_alerts(
    infrastructure, exports, uninterrupted, tmp_path
):
    settings = fresh(infrastructure, "fleet-kill")
    replay_into(settings, exports, tmp_path / "ingest")
    _s, expected_latest, expected_alerts, expected = uninterrupted
    readings = sum(v["readings"] for (kind, _s), v in expected.items() if kind == "hour")
    log = tmp_path / "fleet.log"
    for attempt in range(3):  # killed three times, each once some windows are out
        process = start_fleet(settings, log)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            latest, _ = asyncio.run(read_outputs(settings))
            counted = sum(e.readings for (_m, k, _s2, _p), e in latest.items() if k == "hour")
            if counted >= readings * (attempt + 1) // 4:
                break
            time.sleep(0.5)
        stop(process, signal.SIGKILL)
    process = start_fleet(settings, log)
    try:
        latest, alerts = wait_for_outputs(settings, readings)
    finally:
        stop(process)
    assert by_key(latest) == by_key(expected_latest)
    assert sorted((type(a).__name__, a.event_id) for a in alerts) == sorted(
        (type(a).__name__, a.event_id) for a in expected_alerts)


async def _members(settings: MarketSettings) -> int:
    """The members of the fleet's consumer group once it is stable (0 while it is rebalancing)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        groups = await admin.describe_consumer_groups([app_id(settings)])
        if not groups or not groups[0].groups:
            return 0
        _error, _group, state, _protocol_type, _protocol, members = groups[0].groups[0][:6]
        return len(members) if state == "Stable" else 0
    finally:
        await admin.close()


def test_two_fleet_instances_share_the_partitions_and_give_the_same_result_as_one(
    infrastructure, exports, uninterrupted, tmp_path
):
    settings = fresh(infrastructure, "fleet-two")
    _s, expected_latest, expected_alerts, expected = uninterrupted
    readings = sum(v["readings"] for (kind, _s), v in expected.items() if kind == "hour")
    first = start_fleet(settings, tmp_path / "fleet-1.log")
    second = start_fleet(settings, tmp_path / "fleet-2.log")
    try:
        deadline = time.monotonic() + 90
        stable = 0  # the replay starts once both have joined and the group has stayed stable a while
        while stable < 3:
            assert time.monotonic() < deadline, "the two instances never joined one stable group"
            stable = stable + 1 if asyncio.run(_members(settings)) == 2 else 0
            time.sleep(1)
        replay_into(settings, exports, tmp_path / "ingest")  # while both run
        latest, alerts = wait_for_outputs(settings, readings)
        assert asyncio.run(_members(settings)) == 2
    finally:
        stop(first)
        stop(second)
    assert by_key(latest) == by_key(expected_latest)
    assert {a.event_id for a in alerts} == {a.event_id for a in expected_alerts}
    assert len({p for (_m, _k, _s2, p) in latest}) == len({p for (_m, _k, _s2, p) in expected_latest})


def test_a_house_enrolled_while_the_fleet_runs_is_counted_without_a_restart(infrastructure, exports, tmp_path):
    """The fleet starts knowing no house; house-01 is enrolled on program.registry, then its July replayed.

    The fleet reads the registry every minute only: its readings are counted because a batch with a house it
    does not know reads the registry topic to its end first (waiting for the feed when the batch comes before
    it is connected), not because a periodic read happened to come first. A reading is never dropped.
    """
    import json

    from energychain_shared.kafka import ensure_topics, make_producer
    from energychain_shared.registry import load_registry

    seed = load_registry(REPO_ROOT / "data" / "registry.json")
    empty = tmp_path / "registry.json"
    empty.write_text(json.dumps({"municipalities": [m.model_dump(mode="json") for m in seed.municipalities],
                                 "residents": []}))
    settings = fresh(infrastructure, "fleet-live").model_copy(update={"registry_path": empty})
    july = tmp_path / "house-01-july.csv"
    lines = exports["house-01"].read_text().splitlines(keepends=True)
    july.write_text("".join([lines[0], *(line for line in lines[1:] if line.startswith("2021-07"))]))
    expected = expected_from_csv({"house-01": july})
    readings = sum(v["readings"] for (kind, _s), v in expected.items() if kind == "hour")
    house = seed.resident("house-01")

    async def enrol() -> None:
        await ensure_topics(settings, [topics.PROGRAM_REGISTRY])
        producer = make_producer(settings, client_id="fleet-test-enrol")
        await producer.start()
        try:
            enrolled = events.ResidentEnrolled(event_id=events.ResidentEnrolled.id_for(house),
                                               occurred_at=datetime(2021, 6, 27, 7, tzinfo=UTC), producer="billing",
                                               resident=house)
            await (await producer.send(settings.topic(topics.PROGRAM_REGISTRY), events.encode(enrolled),
                                       key=b"house-01"))
        finally:
            await producer.stop()

    process = start_fleet(settings, tmp_path / "fleet.log", EC_REGISTRY_PATH=str(empty), EC_REGISTRY_REFRESH_S="60")
    try:
        time.sleep(5)  # running, knowing no house
        asyncio.run(enrol())
        replay_into(settings, {"house-01": july}, tmp_path / "ingest")  # the replay reads the registry topic too
        latest, _alerts = wait_for_outputs(settings, readings, timeout=180)
    finally:
        stop(process)
    assert summed({k: e for k, e in latest.items() if k[1] == "hour"}) == {
        key: value for key, value in expected.items() if key[0] == "hour"}


async def test_the_gsa_api_serves_the_fleet_windows_and_alerts_and_a_municipality_only_its_own(uninterrupted, tmp_path):
    from energychain_market.api import create_app
    from energychain_market.bootstrap import build_context

    settings, latest, alerts, _expected = uninterrupted
    settings = settings.model_copy(update={"keys_dir": tmp_path})  # keys of its own: a clean clone has none
    for name in ("gsa-market", keys.TOKEN_KEY):
        keys.ensure_key_pair(tmp_path, name)
    ctx = await build_context(settings, pool_size=1)
    app = create_app(settings, context=ctx, producer=object())
    feed = asyncio.create_task(fleet_feed.follow(settings, app.state.fleet))
    key = keys.load_private_key(settings.resolved_keys_dir, keys.TOKEN_KEY)

    def token(principal: Principal) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(key, principal, ttl=timedelta(hours=1))}"}

    gsa = token(Principal(role=Role.GSA, subject="gsa"))
    parlier = token(Principal(role=Role.MUNICIPALITY, subject="parlier", municipality_id="parlier"))
    reedley = token(Principal(role=Role.MUNICIPALITY, subject="reedley", municipality_id="reedley"))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://market") as api:
            last_end = max(e.window_end for e in latest.values())
            for _ in range(60):
                body = (await api.get("/gsa/fleet/windows", params={"kind": "day", "hours": 72}, headers=gsa)).json()
                if body["as_of"] == last_end.isoformat():
                    break
                await asyncio.sleep(1)
            assert body["as_of"] == last_end.isoformat()
            day = next(w for w in body["windows"] if w["scope"] == "parlier" and w["final"])
            expected = summed({k: v for k, v in latest.items() if k[1] == "day"})[
                ("day", datetime.fromisoformat(day["start"]))]
            assert {name: day[name] for name in expected} == expected
            assert {w["scope"] for w in body["windows"]} == {"parlier", "fleet"}

            mine = (await api.get("/municipality/fleet/windows", params={"kind": "day", "hours": 72},
                                  headers=parlier)).json()
            assert mine["windows"] and {w["scope"] for w in mine["windows"]} == {"parlier"}
            other = (await api.get("/municipality/fleet/windows", headers=reedley)).json()
            assert other["windows"] == []
            assert (await api.get("/gsa/fleet/alerts", headers=parlier)).status_code == 403
            assert (await api.get("/gsa/fleet/windows", params={"kind": "week"}, headers=gsa)).status_code == 422

            open_ids = {a.alert_id for a in alerts if isinstance(a, events.FleetAlertRaised)} - {
                a.alert_id for a in alerts if isinstance(a, events.FleetAlertCleared)}
            served = (await api.get("/gsa/fleet/alerts", headers=gsa)).json()["alerts"]
            assert {a["alert_id"] for a in served} == open_ids
            assert any(a["kind"] == "missing_hours" and a["house_id"] == CUT_HOUSE for a in served)
    finally:
        feed.cancel()
        await asyncio.gather(feed, return_exceptions=True)
        await ctx.close()
