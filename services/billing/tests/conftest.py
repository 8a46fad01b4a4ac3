"""Fixtures of billing's tests: a billing schema of its own, keys, the worker, expected invoices from the CSVs."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from energychain_shared import events, keys, topics
from energychain_shared.auth import Principal, Role, issue_token
from energychain_shared.registry import load_registry
from energychain_shared.kafka import ensure_topics, make_consumer, make_producer
from energychain_shared.migrations import upgrade_async

UTC = timezone.utc
ZONE = ZoneInfo("America/Los_Angeles")
SEED_FILES = {
    "house-01": "HourlyHouse01-27June2021-23July2022.csv",
    "house-02": "HourlyHouse02-18July2021-23July2022.csv",
    "house-03": "HourlyHouse03-08August2021-30July2022.csv",
}


def billing_settings(infrastructure, keys_dir: Path, **overrides):
    """Billing settings on the test database with a schema and consumer group of their own."""
    from energychain_billing.settings import BillingSettings

    tag = uuid.uuid4().hex[:8]
    for name in ("billing", keys.TOKEN_KEY):
        keys.ensure_key_pair(keys_dir, name)
    values = {
        **infrastructure.model_dump(),
        "keys_dir": keys_dir,
        "billing_db_schema": f"billing_test_{tag}",
        "billing_group": f"billing-test-{tag}",
    }
    values.update(overrides)
    return BillingSettings(**values)


async def migrated(settings) -> None:
    """Create the settings' billing schema (the Alembic revisions, as `energychain-billing migrate` does)."""
    await upgrade_async(settings, package="energychain_billing", schema=settings.billing_db_schema)


@dataclass
class RunningWorker:
    """A billing worker running in this event loop."""

    ctx: object
    producer: object
    stop: asyncio.Event
    task: asyncio.Task

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 30)
        await self.producer.stop()
        await self.ctx.close()


async def start_worker(settings) -> RunningWorker:
    """Build the context and run the worker as a task."""
    from energychain_billing.bootstrap import build_context
    from energychain_billing.worker import run_worker

    ctx = await build_context(settings, pool_size=4)
    producer = make_producer(settings, client_id="billing-test")
    await producer.start()
    stop = asyncio.Event()
    return RunningWorker(ctx, producer, stop, asyncio.create_task(run_worker(ctx, producer, stop)))


async def wait_until(probe: Callable, expected, *, timeout: float = 120, what: str = ""):
    """Poll ``probe()`` (async) until it returns ``expected``."""
    deadline = asyncio.get_running_loop().time() + timeout
    last = None
    while asyncio.get_running_loop().time() < deadline:
        last = await probe()
        if last == expected:
            return last
        await asyncio.sleep(0.25)
    raise AssertionError(f"waited {timeout}s for {what or probe}: last {last!r}, expected {expected!r}")


async def read_topic(settings, topic_name: str) -> list[tuple[int, events.Event]]:
    """Every event on ``topic_name`` from the beginning to its current end, with partitions."""
    from aiokafka import TopicPartition

    consumer = make_consumer(settings, group_id=None, client_id="billing-test-reader")
    await consumer.start()
    try:
        partitions = [TopicPartition(topic_name, p) for p in consumer.partitions_for_topic(topic_name) or range(12)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        out = []
        while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
            for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                out.extend((tp.partition, events.decode(r.value)) for r in records)
        return out
    finally:
        await consumer.stop()


# ------------------------------------------------- independent expectations
def _wh(text: str) -> int:
    return int(Decimal(text) * 1000)


def seed_hours(path: Path) -> dict[datetime, tuple[int, int]]:
    """(home Wh, grid import Wh) per UTC interval start, read with the csv module.

    The export's DATE is local wall time: a repeated local hour (fall back) is first daylight, then standard time.
    """
    hours: dict[datetime, tuple[int, int]] = {}
    seen: set[datetime] = set()
    with path.open(newline="") as handle:
        for record in csv.DictReader(handle):
            local = datetime.fromisoformat(record["DATE"].strip())
            fold = 1 if local in seen else 0
            seen.add(local)
            start = local.replace(tzinfo=ZONE, fold=fold).astimezone(UTC)
            hours.setdefault(start, (_wh(record["HOME CONSUMPTION (kWh)"]), _wh(record["GRID IMPORTED (kWh)"])))
    return hours


def expected_invoices(
    hours: dict[datetime, tuple[int, int]], *, start_date: date, rate: Decimal, until: datetime,
    grace: timedelta = timedelta(hours=48), basis: str = "delivered",
) -> dict[str, tuple[list[tuple[int, int]], int]]:
    """period -> ([(contract year, line cents)...], total cents) for every month closed before ``until``.

    Written from PRODUCT.md alone: delivered = max(0, home - import) per hour; contract year n starts
    at local midnight of the (n-1)th anniversary; rate x 1.02^(n-1); each line rounded half-up to the
    cent; nobody pays, so each invoice carries the previous total forward.
    """
    by_period: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for start, (home, imported) in hours.items():
        local = start.astimezone(ZONE)
        years = local.year - start_date.year
        anniversary = datetime.combine(start_date.replace(year=start_date.year + years), time(0), tzinfo=ZONE)
        year = years + 1 if local >= anniversary else years
        billed = max(0, home - imported) if basis == "delivered" else home
        by_period[f"{local.year:04d}-{local.month:02d}"][max(year, 1)] += billed
    out: dict[str, tuple[list[tuple[int, int]], int]] = {}
    carried = 0
    for period in sorted(by_period):
        year_, month = map(int, period.split("-"))
        end = datetime(year_ + month // 12, month % 12 + 1, 1, tzinfo=ZONE).astimezone(UTC)
        if end + grace > until:
            break
        lines = []
        for year, wh in sorted(by_period[period].items()):
            if wh == 0:
                continue
            year_rate = (rate * Decimal("1.02") ** (year - 1)).quantize(Decimal("0.000001"), ROUND_HALF_UP)
            cents = int((Decimal(wh) / 1000 * year_rate * 100).quantize(Decimal(1), ROUND_HALF_UP))
            lines.append((year, cents))
        total = carried + sum(c for _, c in lines)
        out[period] = (lines, total)
        carried = total
    return out


def expected_for_seed(seed_data_dir, until: datetime) -> dict[str, dict[str, tuple[list, int]]]:
    registry = load_registry(billing_settings_path())
    out = {}
    for house, name in SEED_FILES.items():
        contract = registry.resident(house).contract
        out[house] = expected_invoices(
            seed_hours(seed_data_dir / name), start_date=contract.start_date, rate=contract.rate_usd_per_kwh,
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


@pytest.fixture(scope="session")
def seed_topics(infrastructure, seed_data_dir, tmp_path_factory):
    """The seed exports replayed once into topics of their own; returns (common values, last watermark)."""
    from energychain_meter_ingest.adapters.csv_source import HouseSource
    from energychain_meter_ingest.bootstrap import build_replay, open_publisher
    from energychain_meter_ingest.settings import MeterIngestSettings

    prefix = f"{infrastructure.topic_prefix}bill-{uuid.uuid4().hex[:6]}."
    settings = MeterIngestSettings(
        **{**infrastructure.model_dump(), "topic_prefix": prefix, "run_dir": tmp_path_factory.mktemp("ingest")}
    )
    sources = [HouseSource(house, seed_data_dir / name) for house, name in SEED_FILES.items()]

    async def replay() -> datetime:
        from energychain_shared.kafka import ensure_topics

        await ensure_topics(settings)
        run = build_replay(settings, sources, replay_id="billing-seed")
        async with open_publisher(settings) as publisher:
            await run.run(publisher, speed=None)
        return datetime.fromisoformat(run.status()["sim_time"])

    last = asyncio.run(replay())
    return prefix, last


def reading(house: str, start: datetime, *, home: int, imported: int) -> events.MeterReadingRecorded:
    """An hour of ``house`` from ``start``: ``home`` Wh used, ``imported`` of it from the grid, the rest from the battery."""
    return events.MeterReadingRecorded(
        event_id=events.MeterReadingRecorded.id_for(house, start), occurred_at=start + timedelta(hours=1),
        producer="test-meter", house_id=house, interval_start=start, solar_wh=0, home_wh=home,
        battery_charged_wh=0, battery_discharged_wh=home - imported, grid_import_wh=imported, grid_export_wh=0,
        battery_level_pct=50, imbalance_wh=0, source_file="test", source_line=1,
    )


class Meter:
    """Publishes readings keyed by house and watermarks to every partition, in order."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self.topic = settings.topic(topics.METER_READINGS)
        self.producer = make_producer(settings, client_id="billing-test-meter")

    async def readings(self, *items: events.MeterReadingRecorded) -> None:
        for item in items:
            await (await self.producer.send(self.topic, events.encode(item), key=item.house_id.encode()))

    async def watermark(self, sim_time: datetime) -> None:
        for partition in range(topics.METER_READINGS.partitions):
            mark = events.ClockWatermarkReached(
                event_id=events.deterministic_id("test-watermark", partition, sim_time.isoformat()),
                occurred_at=sim_time, producer="test-meter", sim_time=sim_time, partition=partition,
            )
            await (await self.producer.send(self.topic, events.encode(mark), partition=partition))


@dataclass
class BillingApi:
    """Billing on topics and a schema of its own: the worker running, the API app, a meter, tokens per resident."""

    settings: object
    meter: Meter
    client: httpx.AsyncClient
    token: Callable[..., dict[str, str]]
    db: asyncpg.Connection
    ctx: object = None  # the worker's context, which the API shares


@contextlib.asynccontextmanager
async def billing_api(infrastructure, tmp_path: Path, tag: str, **overrides) -> AsyncIterator[BillingApi]:
    """A `BillingApi` under the topic prefix ``<session prefix><tag>-<random>.``, torn down afterwards
    (``overrides``: other settings, e.g. ``registry_path``)."""
    from energychain_billing.api import create_app

    prefix = f"{infrastructure.topic_prefix}{tag}-{uuid.uuid4().hex[:6]}."
    settings = billing_settings(infrastructure, tmp_path / "keys", topic_prefix=prefix, **overrides)
    await ensure_topics(settings)
    await migrated(settings)
    worker = await start_worker(settings)
    meter = Meter(settings)
    await meter.producer.start()
    app = create_app(settings, context=worker.ctx, producer=worker.producer)
    token_key = keys.load_private_key(settings.resolved_keys_dir, keys.TOKEN_KEY)

    def token(house: str, *, role: Role = Role.RESIDENT, municipality_id: str = "parlier") -> dict[str, str]:
        principal = (Principal(role=role, subject=house) if role is Role.GSA
                     else Principal(role=role, subject=house, municipality_id=municipality_id,
                                    house_id=house))
        return {"Authorization": f"Bearer {issue_token(token_key, principal, ttl=timedelta(hours=1))}"}

    connection = await asyncpg.connect(settings.asyncpg_dsn, server_settings={"search_path": settings.billing_db_schema})
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://billing") as client:
            yield BillingApi(settings, meter, client, token, connection, worker.ctx)
    finally:
        await connection.close()
        await meter.producer.stop()
        await worker.close()


@pytest.fixture(scope="session")
def kit():
    """This module's helpers (test modules cannot import each other under importlib mode)."""
    import sys

    return sys.modules[__name__]
