"""The three seed houses offer, the day clears and settles against their real metered discharge.

Real Kafka broker and PostgreSQL: the test publishes the clock and the meter readings, the
market's worker consumes them, and the test reads TradeSettled and the ledger appends back.
"""

from __future__ import annotations

import asyncio
import csv
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from energychain_shared import events, keys, topics
from energychain_shared.auth import Principal, Role, issue_token
from energychain_shared.channels import Accounts, resident_channel
from energychain_shared.kafka import make_consumer, make_producer, publish
from energychain_shared.migrations import upgrade_async

from energychain_market import readings as read_model
from energychain_market.api import create_app
from energychain_market.bootstrap import build_context
from energychain_market.settings import MarketSettings
from energychain_market.worker import run_worker

pytestmark = pytest.mark.integration

ZONE = ZoneInfo("America/Los_Angeles")
UTC = timezone.utc
SEED_FILES = {
    "house-01": "HourlyHouse01-27June2021-23July2022.csv",
    "house-02": "HourlyHouse02-18July2021-23July2022.csv",
    "house-03": "HourlyHouse03-08August2021-30July2022.csv",
}
DAYS = (date(2021, 8, 10), date(2021, 8, 12))
# (house, day) -> (reserve percent, minimum $/kWh)
OFFERS = {
    ("house-01", DAYS[0]): (100, "0.23"),
    ("house-02", DAYS[0]): (50, "0.25"),
    ("house-03", DAYS[0]): (75, "0.23"),
    ("house-01", DAYS[1]): (100, "0.35"),  # above the day's peak: unsold
    ("house-02", DAYS[1]): (100, "0.30"),
    ("house-03", DAYS[1]): (25, "0.30"),
}


def _local(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=ZONE).astimezone(UTC)


def _wh(text: str) -> int:
    return max(0, int((Decimal(text or "0") * 1000).to_integral_value(rounding=ROUND_HALF_UP)))


def seed_readings(seed_dir: Path, house_id: str, days: tuple[date, ...]) -> list[events.MeterReadingRecorded]:
    """The seed export's rows for ``days`` as readings (August: no daylight-saving artefacts)."""
    wanted = {d.isoformat() for d in days}
    readings = {}
    with (seed_dir / SEED_FILES[house_id]).open(newline="") as handle:
        for line, row in enumerate(csv.reader(handle), start=1):
            if line == 1 or row[0][:10] not in wanted:
                continue
            start = datetime.fromisoformat(row[0]).replace(tzinfo=ZONE).astimezone(UTC)
            discharged, charged, solar, home, export, imported = (_wh(v) for v in row[1:7])
            readings[start] = events.MeterReadingRecorded(
                event_id=events.MeterReadingRecorded.id_for(house_id, start), occurred_at=start + timedelta(hours=1),
                producer="test", house_id=house_id, interval_start=start, solar_wh=solar, home_wh=home,
                battery_charged_wh=charged, battery_discharged_wh=discharged, grid_import_wh=imported,
                grid_export_wh=export, battery_level_pct=int(Decimal(row[7])) if row[7] else None,
                imbalance_wh=solar + discharged + imported - home - charged - export,
                source_file=SEED_FILES[house_id], source_line=line,
            )
    return list(readings.values())


async def _scalar(engine: AsyncEngine, query: str, **params):
    async with engine.connect() as connection:
        return await connection.scalar(text(query), params)


async def _wait_for(engine: AsyncEngine, query: str, expected, timeout: float = 60, **params):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await _scalar(engine, query, **params)
        if value == expected:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"waited {timeout}s for {query!r} == {expected!r}, last {value!r}")
        await asyncio.sleep(0.2)


async def _collect(settings, topic: topics.Topic, *, count: int, predicate, timeout: float = 60) -> list:
    consumer = make_consumer(settings, settings.topic(topic), group_id=None, client_id="gsa-market-test")
    await consumer.start()
    found = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(found) < count and asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    event = events.decode(record.value)
                    if predicate(event):
                        found.append(event)
    finally:
        await consumer.stop()
    return found


@pytest.fixture
async def market(infrastructure, tmp_path):
    """A migrated schema of its own, keys in a tmp dir, the worker running; yields (settings, ctx, producer)."""
    schema = f"market_test_{uuid.uuid4().hex[:8]}"
    settings = MarketSettings(**{**infrastructure.model_dump(), "keys_dir": tmp_path, "market_db_schema": schema})
    for name in ("gsa-market", keys.TOKEN_KEY):
        keys.ensure_key_pair(tmp_path, name)
    await upgrade_async(settings, package="energychain_market", schema=schema)
    ctx = await build_context(settings, pool_size=4)
    producer = make_producer(settings, client_id="gsa-market-test")
    await producer.start()
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(ctx, producer, stop))
    try:
        yield settings, ctx, producer
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=30)
        await producer.stop()
        async with ctx.engine.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await ctx.close()


def _token(settings, principal: Principal) -> dict[str, str]:
    key = keys.load_private_key(settings.resolved_keys_dir, keys.TOKEN_KEY)
    return {"Authorization": f"Bearer {issue_token(key, principal, ttl=timedelta(hours=1))}"}


def _resident(settings, house_id: str) -> dict[str, str]:
    return _token(settings, Principal(role=Role.RESIDENT, subject=house_id, municipality_id="parlier", house_id=house_id))


async def _clock(settings, producer, sim_time: datetime) -> None:
    event = events.SimulatedClockAdvanced(
        event_id=events.deterministic_id("clock-test", sim_time.isoformat()), occurred_at=sim_time, producer="test",
        replay_id="test", sim_time=sim_time, speed=None,
    )
    await (await publish(producer, settings.topic(topics.CLOCK), event))


async def test_seed_houses_offer_clear_and_settle_against_their_metered_discharge(market, seed_data_dir):
    settings, ctx, producer = market
    app = create_app(settings, context=ctx, producer=producer)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://market") as api:
        # Before the clock starts there is no current day to offer after.
        response = await api.post(
            "/resident/offers", headers=_resident(settings, "house-01"),
            json={"reserve_percent": 50, "delivery_day": "2021-08-10", "min_price_usd_per_kwh": "0.30"},
        )
        assert response.status_code == 409 and response.json()["rule"] == "clock_started"

        # The clock reaches 2021-08-09 13:00 local: day-ahead prices for the 10th are out.
        await _clock(settings, producer, _local(date(2021, 8, 9), 13))
        await _wait_for(ctx.engine, "SELECT count(*) FROM price_days WHERE local_day = :day", 1, day=DAYS[0])

        refused = await api.post(
            "/resident/offers", headers=_resident(settings, "house-01"),
            json={"reserve_percent": 60, "delivery_day": "2021-08-10", "min_price_usd_per_kwh": "0.30"},
        )
        assert refused.status_code == 422 and refused.json()["field"] == "reserve_percent"
        today = await api.post(
            "/resident/offers", headers=_resident(settings, "house-01"),
            json={"reserve_percent": 50, "delivery_day": "2021-08-09", "min_price_usd_per_kwh": "0.30"},
        )
        assert today.json()["rule"] == "delivery_day_after_today"
        cheap = await api.post(
            "/resident/offers", headers=_resident(settings, "house-01"),
            json={"reserve_percent": 50, "delivery_day": "2021-08-10", "min_price_usd_per_kwh": "0.22"},
        )
        assert cheap.json()["rule"] == "min_price_at_least_ppa_rate"

        # An offer cancelled while open is withdrawn; the house then offers again.
        first = await api.post(
            "/resident/offers", headers=_resident(settings, "house-01"),
            json={"reserve_percent": 25, "delivery_day": "2021-08-10", "min_price_usd_per_kwh": "0.50"},
        )
        assert first.status_code == 201
        cancelled = await api.post(f"/resident/offers/{first.json()['offer_id']}/cancel", headers=_resident(settings, "house-01"))
        assert cancelled.json()["status"] == "cancelled"

        offer_ids = {}
        for (house, day), (percent, price) in OFFERS.items():
            response = await api.post(
                "/resident/offers", headers=_resident(settings, house),
                json={"reserve_percent": percent, "delivery_day": day.isoformat(), "min_price_usd_per_kwh": price},
            )
            assert response.status_code == 201, response.text
            offer_ids[(house, day)] = response.json()["offer_id"]

        # The clock passes the gate closure of both days: both clear.
        await _clock(settings, producer, _local(DAYS[1], 0))
        await _wait_for(ctx.engine, "SELECT count(*) FROM offers WHERE status IN ('cleared', 'unsold')", 6)
        late = await api.post(f"/resident/offers/{offer_ids[('house-02', DAYS[0])]}/cancel", headers=_resident(settings, "house-02"))
        assert late.status_code == 409 and late.json()["rule"] == "cancel_only_open_offers"

        # Meter readings of both days from the seed exports, then a watermark past them on every partition.
        readings = [r for house in SEED_FILES for r in seed_readings(seed_data_dir, house, DAYS)]
        for reading in readings:
            await publish(producer, settings.topic(topics.METER_READINGS), reading)
        end = _local(DAYS[1] + timedelta(days=1), 0)
        for partition in range(topics.METER_READINGS.partitions):
            mark = events.ClockWatermarkReached(
                event_id=events.deterministic_id("watermark-test", partition, end.isoformat()), occurred_at=end,
                producer="test", sim_time=end, partition=partition,
            )
            await publish(producer, settings.topic(topics.METER_READINGS), mark, partition=partition)
        await producer.flush()
        await _wait_for(ctx.engine, "SELECT count(*) FROM settlements", 5)

        offers_view = (await api.get("/resident/offers", headers=_resident(settings, "house-02"))).json()["offers"]
        assert {o["status"] for o in offers_view} == {"settled"}
        gsa = _token(settings, Principal(role=Role.GSA, subject="operator"))
        usage = (await api.get("/gsa/usage/hourly", headers=gsa, params={"start": "2021-08-10", "end": "2021-08-12"})).json()
        assert set(usage["houses"]) == set(SEED_FILES)
        # The GSA's views agree with each other: revenue sums the listed settlements (UTC days: the evening
        # peak of the 12th in California is the 13th in UTC).
        period = {"start": DAYS[0].isoformat(), "end": (DAYS[1] + timedelta(days=1)).isoformat()}
        listed = (await api.get("/gsa/settlements", headers=gsa, params=period)).json()["settlements"]
        revenue = (await api.get("/gsa/revenue", headers=gsa, params=period)).json()
        assert len(listed) == 5 and revenue["fee_cents"] == sum(s["fee_cents"] for s in listed)
        assert revenue["credit_cents"] == sum(s["credit_cents"] for s in listed)
        clearings = (await api.get("/gsa/clearings", headers=gsa)).json()["clearings"]
        assert [c["delivery_day"] for c in clearings] == [d.isoformat() for d in DAYS]
        settled_offers = (await api.get("/gsa/offers", headers=gsa, params={"status": "settled"})).json()["offers"]
        assert len(settled_offers) == 5
        day_prices = (await api.get("/gsa/prices", headers=gsa, params={"start": "2021-08-10", "end": "2021-08-10"}))
        assert len(day_prices.json()["prices"]) == 24
        terms = (await api.get("/resident/market/terms", headers=_resident(settings, "house-01"))).json()
        assert terms["reserve_percents"] == [25, 50, 75, 100] and terms["earliest_delivery_day"] == "2021-08-13"
        assert (await api.get("/gsa/bids", headers=_resident(settings, "house-01"))).status_code == 403

    # Independent expectation: each cleared offer in its day's peak hour, delivered = min(offered, metered).
    discharged = {(r.house_id, r.interval_start): r.battery_discharged_wh for r in readings}
    expected = {}
    for (house, day), (percent, price) in OFFERS.items():
        day_prices = ctx.price_source.prices_for_day(day)
        peak_hour = min(day_prices, key=lambda h: (-day_prices[h], h))
        peak = day_prices[peak_hour]
        if peak < Decimal(price) * 1000:
            continue
        offered = ctx.registry.resident(house).contract.reserve_wh * percent // 100
        delivered = min(offered, discharged.get((house, peak_hour), 0))
        proceeds = int((Decimal(delivered) * peak / 10_000).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        fee = int((Decimal(proceeds) / 10).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        expected[offer_ids[(house, day)]] = (house, peak_hour, offered, delivered, proceeds, fee, proceeds - fee)
    assert len(expected) == 5
    assert any(0 < v[3] < v[2] for v in expected.values()), "the chosen days include a partial delivery"
    assert any(v[3] == 0 for v in expected.values()), "the chosen days include a non-delivery"

    settled = await _collect(settings, topics.SETTLEMENTS, count=5, predicate=lambda e: isinstance(e, events.TradeSettled))
    actual = {
        e.offer_id: (e.house_id, e.delivery_hour, e.offered_wh, e.delivered_wh, e.proceeds_cents, e.fee_cents, e.credit_cents)
        for e in settled
    }
    assert actual == expected
    assert all(e.refill_wh == e.delivered_wh for e in settled)
    assert all((e.shortfall_reason is None) == (e.delivered_wh == e.offered_wh) for e in settled)

    appends = await _collect(
        settings, topics.LEDGER_APPENDS, count=5,
        predicate=lambda e: isinstance(e, events.LedgerAppendRequested) and e.kind == "trade_settled",
    )
    public = keys.load_public_key(settings.resolved_keys_dir, "gsa-market")
    assert all(keys.verify(public, e.signing_payload(), e.signature) for e in appends)
    by_offer = {e.body["offer_id"]: e for e in appends}
    for offer_id, (house, _hour, _offered, _delivered, _proceeds, fee, credit) in expected.items():
        entry = by_offer[offer_id]
        assert entry.channels == (resident_channel(house),)
        moved = {(t.debit_account, t.credit_account): t.amount_cents for t in entry.transfers}
        wanted = {}
        if credit:
            wanted[(Accounts.GSA_CASH, Accounts.resident_receivable(house))] = credit
        if fee:
            wanted[(Accounts.GSA_CASH, Accounts.GSA_FEES)] = fee
        assert moved == wanted


async def test_a_reading_delivered_twice_is_stored_once_and_the_watermark_only_moves_forward(market):
    _settings, ctx, _producer = market
    hour = _local(DAYS[0], 19)
    row = (hour, "house-01", 1200, 0, 300, 2290)
    later, earlier = _local(DAYS[0], 22), _local(DAYS[0], 20)
    await read_model.store_readings(ctx, [row, row], {0: later})
    await read_model.store_readings(ctx, [(hour, "house-01", 9, 9, 9, 9)], {0: earlier})
    async with ctx.engine.connect() as connection:
        stored = (await connection.execute(
            text("SELECT home_wh, discharged_wh FROM readings WHERE house_id = 'house-01'")
        )).all()
    assert [tuple(r) for r in stored] == [(1200, 2290)]
    assert await _scalar(ctx.engine, "SELECT sim_time FROM reading_watermarks WHERE partition = 0") == later
