"""The fleet agent in faust's test context: records in, tables and published events out (no broker)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from energychain_shared import events
from energychain_shared.registry import load_registry
from energychain_shared.settings import load_settings

from energychain_market import fleet
from energychain_market.settings import MarketSettings

pytestmark = pytest.mark.unit
T0 = datetime(2021, 8, 1, 7, tzinfo=timezone.utc)  # local midnight in Parlier


def reading(house: str, hour: int, *, home: int) -> bytes:
    start = T0 + timedelta(hours=hour)
    return events.encode(events.MeterReadingRecorded(
        event_id=events.MeterReadingRecorded.id_for(house, start), occurred_at=start + timedelta(hours=1),
        producer="test-meter", house_id=house, interval_start=start, solar_wh=0, home_wh=home,
        battery_charged_wh=0, battery_discharged_wh=0, grid_import_wh=home, grid_export_wh=0, battery_level_pct=80,
        imbalance_wh=0, source_file="test.csv", source_line=hour + 2,
    ))


def watermark(hour: int, partition: int) -> bytes:
    when = T0 + timedelta(hours=hour)
    return events.encode(events.ClockWatermarkReached(
        event_id=events.deterministic_id("ClockWatermarkReached", when.isoformat(), partition), occurred_at=when,
        producer="test-meter", sim_time=when, partition=partition,
    ))


def make_app(monkeypatch, registry=None, **options):
    settings = load_settings(MarketSettings).model_copy(update={"market_fleet_flush_seconds": 0.05,
                                                                "market_fleet_grace_hours": 2})
    app = fleet.create_app(settings, registry or load_registry(settings.registry_path), **options)
    app.finalize()
    app.conf.store = "memory://"
    app.flow_control.resume()
    sent: list[tuple[int, events.Event]] = []
    for topic in app.fleet_outputs:
        async def capture(*, key, value, partition, **_):
            sent.append((partition, events.decode(value)))
        monkeypatch.setattr(topic, "send", capture)
    app.sent = sent
    return app


@pytest.fixture()
def fleet_app(monkeypatch):
    return make_app(monkeypatch)


async def test_the_agent_counts_each_reading_once_and_publishes_the_windows_of_its_partition(fleet_app):
    agent = next(iter(fleet_app.agents.values()))
    async with agent.test_context() as stream:
        for hour in range(3):
            await stream.put(reading("house-01", hour, home=1000 + hour), key=b"house-01", partition=4)
        await stream.put(reading("house-01", 1, home=1001), key=b"house-01", partition=4)  # redelivered
        await stream.put(watermark(3, 4), key=None, partition=4)
        await asyncio.sleep(0.5)
    updates = [e for p, e in fleet_app.sent if isinstance(e, events.FleetWindowUpdated)]
    assert {p for p, _ in fleet_app.sent} == {4}
    latest = {}
    for update in updates:
        latest[(update.kind, update.window_start)] = update
    day = latest[("day", T0)]
    assert (day.readings, day.home_wh, day.houses_reporting, day.local_date.isoformat()) == (3, 3003, 1, "2021-08-01")
    # 80 % of the registry's 10,000 Wh battery above its 2,000 Wh reserve
    assert latest[("hour", T0)].reserve_above_contract_wh == 8_000 - 2_000
    assert latest[("hour", T0)].final  # watermark 03:00 >= 01:00 + 2 h of grace
    houses = fleet_app.tables["houses"][fleet.bucket_key(4, "h", fleet.bucket("house-01", fleet.HOUSE_BUCKETS))]
    assert houses["house-01"]["l"] == int((T0 + timedelta(hours=2)).timestamp())
    open_windows = [key for value in fleet_app.tables["open_windows"].values() for key in value]
    assert f"parlier|day|{int(T0.timestamp())}|4" in open_windows
    assert f"parlier|hour|{int(T0.timestamp())}|4" not in open_windows  # closed: out of the table


class SlowFeed:
    """A registry feed that is not connected yet: `start` and `sync` bring the registry with house-01 enrolled."""

    def __init__(self, before, after) -> None:
        self.registry, self.after, self.listeners, self.syncs = before, after, [], 0

    def listen(self, listener) -> None:
        self.listeners.append(listener)

    async def start(self) -> SlowFeed:
        await self.sync()
        return self

    async def sync(self) -> int:
        self.syncs += 1
        if self.registry is self.after:
            return 0
        self.registry = self.after
        for listener in self.listeners:
            listener(self.registry, ())
        return 1

    async def follow(self) -> None:
        await asyncio.Event().wait()

    async def stop(self) -> None:
        pass


async def test_a_reading_of_a_house_not_yet_known_waits_for_the_registry_and_is_never_dropped(monkeypatch):
    """The fleet's first batch can come before its registry feed is connected (readings published while it
    started); a reading of a house it does not know then waits for the feed and the registry topic read to its
    end, and is counted: never taken as unregistered, its offset committed, lost."""
    full = load_registry(load_settings(MarketSettings).registry_path)
    before = full.model_copy(update={"residents": tuple(r for r in full.residents if r.house_id != "house-01")})
    feed = SlowFeed(before, full)
    app = make_app(monkeypatch, before, feed=feed)
    unregistered = fleet.READINGS.labels("unregistered")
    dropped = unregistered._value.get()
    agent = next(iter(app.agents.values()))
    async with agent.test_context() as stream:
        await stream.put(reading("house-01", 0, home=1000), key=b"house-01", partition=4)
        await asyncio.sleep(0.5)
        assert (app.sent, feed.syncs, unregistered._value.get()) == ([], 0, dropped)  # waiting: nothing decided
        follower = asyncio.ensure_future(app.fleet_follow_registry())  # faust starts it once it has started
        try:
            await asyncio.sleep(0.5)
        finally:
            follower.cancel()
    assert unregistered._value.get() == dropped
    hours = [e for _p, e in app.sent if isinstance(e, events.FleetWindowUpdated) and e.kind == "hour"]
    assert [(e.window_start, e.readings, e.home_wh) for e in hours] == [(T0, 1, 1000)]
