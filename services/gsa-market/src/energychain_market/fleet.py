"""The fleet stream: a faust-streaming application over meter.readings (`energychain-gsa-market fleet`).

Kafka in, tables and topics out, no PostgreSQL: one agent reads every partition of
meter.readings in offset order and hands each record to the pure `FleetPartition` of its
partition (`domain/fleet.py`), which counts readings into event-time windows and checks
each meter. Two tables hold the state, each backed by a compacted changelog topic the
project creates with meter.readings' partition count (`topics.FLEET_*_CHANGELOG`):

- ``houses``: per house, what the stream remembers between its readings (and per partition,
  its watermark), in buckets of houses per partition;
- ``open_windows``: the running totals of every window still waiting for late readings, in
  buckets per partition.

The agent takes the stream in batches (at most ``market_fleet_flush_readings`` records, or
what ``market_fleet_flush_seconds`` brought): it applies each record, then writes each changed
partition's keys to the tables and publishes its changed windows (FleetWindowUpdated on
fleet.windows) and the alerts raised or cleared (fleet.alerts); faust acknowledges the batch
after that. With
``processing_guarantee="exactly_once"`` faust commits those offsets in the same Kafka
transaction as the changelog and output records, so a crash at any point resumes from state
and offsets that agree: nothing lost, nothing counted twice. Instances share the partitions
through faust's consumer group; a table partition moves with its meter.readings partition.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from datetime import datetime, time
from collections.abc import Sequence
from typing import Any

import faust
from prometheus_client import Counter, start_http_server

from energychain_shared import events, topics
from energychain_shared.registry import Registry
from energychain_shared.registry_feed import RegistryFeed

from energychain_market.domain.fleet import (
    AlertChange,
    FleetPartition,
    FleetRules,
    HouseTerms,
    Reading,
    Window,
    epoch,
    instant,
)
from energychain_market.settings import MarketSettings

log = logging.getLogger(__name__)
SERVICE = "gsa-market-fleet"
WATERMARK_KEY = "{partition}|watermark"
HOUSE_BUCKETS = 16  # table keys per partition for its houses' state
WINDOW_BUCKETS = 4  # ... and for its open windows (by municipality)


def bucket(name: str, buckets: int) -> int:
    """A stable bucket of a house or municipality id (the same in every process)."""
    return zlib.crc32(name.encode()) % buckets


def bucket_key(partition: int, kind: str, number: int) -> str:
    return f"{partition}|{kind}{number}"

READINGS = Counter("fleet_readings_total", "Readings the fleet stream took, by outcome", ["outcome"])
ALERTS = Counter("fleet_alerts_total", "Fleet alerts raised and cleared", ["kind", "change"])
FLUSHES = Counter("fleet_flushes_total", "Times the fleet stream wrote its tables")
UNDECODABLE = Counter("fleet_undecodable_total", "Records of meter.readings the fleet stream could not decode")


FAUST_LOG_LEVELS = {"DEBUG": "debug", "INFO": "info", "WARNING": "warn", "ERROR": "error", "CRITICAL": "crit"}


def app_id(settings: MarketSettings) -> str:
    """The faust application id (its consumer group), under the installation's topic prefix."""
    return f"{settings.topic_prefix}{SERVICE}"


def terms_from(registry: Registry):
    """The fleet's view of each registered house."""
    terms = {
        resident.house_id: HouseTerms(
            municipality_id=resident.municipality_id,
            zone=registry.by_municipality[resident.municipality_id].zone,
            battery_wh=resident.contract.battery_wh,
            reserve_wh=resident.contract.reserve_wh,
            moves=tuple((epoch(datetime.combine(move.effective_date, time(0),
                                                tzinfo=registry.by_municipality[resident.municipality_id].zone)),
                         move.municipality_id) for move in resident.moves),
        )
        for resident in registry.residents
    }
    return terms.get


def reading_of(event: events.MeterReadingRecorded) -> Reading:
    return Reading(
        house_id=event.house_id, hour=epoch(event.interval_start), home_wh=event.home_wh, solar_wh=event.solar_wh,
        grid_import_wh=event.grid_import_wh, grid_export_wh=event.grid_export_wh,
        battery_charged_wh=event.battery_charged_wh, battery_discharged_wh=event.battery_discharged_wh,
        battery_level_pct=event.battery_level_pct, unbalanced="unbalanced" in event.quality_flags,
    )


def window_event(window: Window, *, final: bool) -> events.FleetWindowUpdated:
    start = instant(window.start)
    return events.FleetWindowUpdated(
        event_id=events.FleetWindowUpdated.id_for(window.municipality_id, window.kind, start, window.partition,
                                                  window.version),
        occurred_at=instant(window.end), producer=SERVICE, municipality_id=window.municipality_id,
        kind=window.kind, window_start=start, window_end=instant(window.end),
        local_date=window.local_date, partition=window.partition, version=window.version, final=final,
        **window.totals,
    )


def alert_event(change: AlertChange) -> events.Event:
    if change.raised:
        return events.FleetAlertRaised(
            event_id=change.alert_id, occurred_at=instant(change.at), producer=SERVICE, alert_id=change.alert_id,
            kind=change.kind, house_id=change.house_id, municipality_id=change.municipality_id,
            since=instant(change.at), detail=change.detail,
        )
    return events.FleetAlertCleared(
        event_id=events.deterministic_id("FleetAlertCleared", change.alert_id), occurred_at=instant(change.at),
        producer=SERVICE, alert_id=change.alert_id, kind=change.kind, house_id=change.house_id,
        municipality_id=change.municipality_id, cleared_at=instant(change.at),
    )


class PartitionTable(faust.Table):
    """A table written with the partition its key belongs to given explicitly.

    Faust writes a key's changelog record to the partition of the event being processed; the
    fleet agent writes a batch's keys after the batch, per source partition, so it names the
    partition: the key then lives in the changelog partition of the meter.readings partition
    it was computed from, and moves with it to whichever instance reads that partition.
    """

    _partition: int | None = None

    def put(self, partition: int, key: Any, value: Any) -> None:
        self._partition = partition
        try:
            self[key] = value
        finally:
            self._partition = None

    def delete(self, partition: int, key: Any) -> None:
        self._partition = partition
        try:
            del self[key]
        finally:
            self._partition = None

    def partition_for_key(self, key: Any) -> int | None:
        if self._partition is not None:
            return self._partition
        return super().partition_for_key(key)


def create_app(settings: MarketSettings, registry: Registry, *, feed: RegistryFeed | None = None,
               **conf: Any) -> faust.App:
    """The fleet application: its topics, tables and agent (``conf`` overrides faust settings, e.g. in tests).

    With ``feed`` (not started: a task starts it in faust's loop as soon as faust has started, never
    the agent) the houses' terms follow the program registry live: it is read every
    ``registry_refresh_s``, and a batch with a house the fleet does not know reads the registry topic
    to its end before any of its readings is decided, waiting for the feed to be up when it comes
    first. Only a house still unknown after that is ``unregistered``.
    """
    datadir = settings.run_dir / "fleet"
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        app_id(settings),
        broker=[f"kafka://{server}" for server in settings.kafka_bootstrap_servers.split(",")],
        processing_guarantee="exactly_once",
        store="memory://",
        topic_partitions=topics.KEYED_PARTITIONS,
        topic_replication_factor=settings.kafka_replication_factor,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        web_enabled=False,
        datadir=str(datadir / app_id(settings)),
        **conf,
    )
    rules = FleetRules(grace_hours=settings.market_fleet_grace_hours, silent_hours=settings.market_fleet_silent_hours,
                       imbalance_streak=settings.market_fleet_imbalance_streak)
    lookup = {"terms": terms_from(registry)}

    def terms_of(house_id: str) -> HouseTerms | None:
        return lookup["terms"](house_id)

    if feed is not None:
        feed.listen(lambda current, _changes: lookup.__setitem__("terms", terms_from(current)))
    feed_started = asyncio.Event()

    async def registry_knows(batch: Sequence[faust.EventT]) -> None:
        """Read the registry topic to its end when a reading's house is unknown, before the batch is decided.

        A reading of an unknown house counts as ``unregistered`` and its offset commits with the batch:
        dropped for good. So a batch with one waits until the feed runs (faust may hand the agent its
        first batch before the feed is connected: readings published while the fleet was starting),
        then reads the topic to its end; the enrolment was published before the house's first reading.
        A batch of known houses never waits.
        """
        if feed is None or not any(record.key and terms_of(record.key.decode()) is None for record in batch):
            return
        await feed_started.wait()
        await feed.sync()

    def raw_topic(topic: topics.Topic, **options: Any) -> faust.TopicT:
        return app.topic(settings.topic(topic), key_type=bytes, value_type=bytes, key_serializer="raw",
                         value_serializer="raw", partitions=topic.partitions, **options)

    readings = raw_topic(topics.METER_READINGS)
    windows_out = raw_topic(topics.FLEET_WINDOWS)
    alerts_out = raw_topic(topics.FLEET_ALERTS)

    def changelog(topic: topics.Topic) -> faust.TopicT:
        return app.topic(settings.topic(topic), key_type=str, value_type=None, key_serializer="json",
                         value_serializer="json", partitions=topic.partitions, compacting=True, deleting=False)

    def table(name: str, topic: topics.Topic) -> PartitionTable:
        return app.tables.add(PartitionTable(app, name=name, beacon=app.tables.beacon, partitions=topic.partitions,
                                             changelog_topic=changelog(topic)))

    houses = table("houses", topics.FLEET_HOUSES_CHANGELOG)
    open_windows = table("open_windows", topics.FLEET_WINDOWS_CHANGELOG)

    class Partition:
        """A partition's `FleetPartition` and its part of the tables, read once when the partition is first read.

        A table key holds a bucket of a partition's houses (or open windows), not one house: the
        agent writes each changed bucket once per batch, a few records where one per house or
        window would be hundreds (faust sends each changelog record on its own).
        """

        def __init__(self, partition: int) -> None:
            self.number = partition
            self.houses = {b: dict(houses.get(bucket_key(partition, "h", b)) or {}) for b in range(HOUSE_BUCKETS)}
            self.windows = {b: dict(open_windows.get(bucket_key(partition, "w", b)) or {})
                            for b in range(WINDOW_BUCKETS)}
            self.fleet = FleetPartition(
                partition, rules, terms_of,
                load_house=lambda house: self.houses[bucket(house, HOUSE_BUCKETS)].get(house),
                load_window=lambda key: self.windows[bucket(key.split("|", 1)[0], WINDOW_BUCKETS)].get(key),
                houses_on=self._houses_on, open_windows_on=self._windows_on,
                watermark=houses.get(WATERMARK_KEY.format(partition=partition)),
            )

        def _houses_on(self, _partition: int):
            for states in self.houses.values():
                for house_id, value in states.items():
                    yield house_id, value["l"], "silent_meter" in value["a"]

        def _windows_on(self, _partition: int):
            for windows in self.windows.values():
                for key, value in windows.items():
                    yield key, value["e"]

    partitions: dict[int, Partition] = {}
    app.fleet_partitions = partitions  # type: ignore[attr-defined]  # for tests and the benchmark
    app.fleet_outputs = (windows_out, alerts_out)  # type: ignore[attr-defined]

    @app.on_partitions_revoked.connect
    async def forget_revoked(_app, revoked, **_kwargs) -> None:
        # A revoked partition's state is rebuilt from its tables by whoever reads it next.
        for tp in revoked:
            if tp.topic == readings.get_topic_name():
                partitions.pop(tp.partition, None)

    async def flush(part: Partition) -> None:
        number = part.number
        drained = part.fleet.drain()
        changed_houses = set()
        for house_id, state in drained.houses.items():
            b = bucket(house_id, HOUSE_BUCKETS)
            part.houses[b][house_id] = state
            changed_houses.add(b)
        changed_windows = set()
        for key in drained.closed_windows:
            b = bucket(key.split("|", 1)[0], WINDOW_BUCKETS)
            part.windows[b].pop(key, None)
            changed_windows.add(b)
        for key, value in drained.open_windows.items():
            b = bucket(key.split("|", 1)[0], WINDOW_BUCKETS)
            part.windows[b][key] = value
            changed_windows.add(b)
        # Copies: faust serialises a changelog record when it sends it, after the next batch may
        # have changed the buckets; each record must be the state as of this batch.
        for b in sorted(changed_houses):
            houses.put(number, bucket_key(number, "h", b), dict(part.houses[b]))
        for b in sorted(changed_windows):
            open_windows.put(number, bucket_key(number, "w", b), dict(part.windows[b]))
        if drained.watermark is not None:
            houses.put(number, WATERMARK_KEY.format(partition=number), drained.watermark)
        for window in drained.window_updates:
            event = window_event(window, final=window.key in drained.finals)
            await windows_out.send(key=event.partition_key.encode(), value=events.encode(event), partition=number)
        for change in drained.alerts:
            await alerts_out.send(key=change.house_id.encode(), value=events.encode(alert_event(change)),
                                  partition=number)
            ALERTS.labels(change.kind, "raised" if change.raised else "cleared").inc()
        FLUSHES.inc()

    def take(part: Partition, record: faust.EventT) -> None:
        try:
            event = events.decode_reading_stream(record.value)
        except events.EventDecodeError as error:
            UNDECODABLE.inc()
            log.warning("undecodable record skipped", extra={"partition": part.fleet.partition, "reason": str(error)})
            return
        if isinstance(event, events.MeterReadingRecorded):
            READINGS.labels(part.fleet.apply_reading(reading_of(event))).inc()
        elif isinstance(event, events.ClockWatermarkReached):
            part.fleet.apply_watermark(epoch(event.sim_time))

    @app.agent(readings, name="fleet")
    async def fleet(stream: faust.StreamT) -> None:
        """Batches of meter.readings: each record into its partition's state, then each changed partition written.

        Faust acknowledges a batch once this body has taken it, so its offsets commit with
        (in the same transaction as) the table and topic records its flush wrote.
        """
        async for batch in stream.take_events(settings.market_fleet_flush_readings,
                                              within=settings.market_fleet_flush_seconds):
            await registry_knows(batch)
            touched: dict[int, Partition] = {}
            for record in batch:
                number = record.message.partition
                part = partitions.get(number)
                if part is None:
                    part = partitions[number] = Partition(number)
                touched[number] = part
                take(part, record)
            for part in touched.values():
                if part.fleet.changed:
                    await flush(part)

    if feed is not None:
        @app.task
        async def follow_registry() -> None:
            """Connect the feed once faust has started (a connection failure is logged and tried again), then
            read the registry every ``registry_refresh_s``."""
            while not feed_started.is_set():
                try:
                    await feed.start()
                except Exception:
                    log.exception("connecting to the program registry failed; retrying")
                    try:
                        await feed.stop()
                    except Exception:
                        log.exception("closing the program registry's consumer failed")
                    await asyncio.sleep(settings.registry_refresh_s)
                else:
                    feed_started.set()
            await feed.follow()

        app.fleet_follow_registry = follow_registry  # type: ignore[attr-defined]  # for tests

    return app


async def _current(settings: MarketSettings, seed: Registry) -> Registry:
    async with RegistryFeed(settings, seed, client_id=f"{SERVICE}-registry-start") as feed:
        return feed.registry


def run(settings: MarketSettings, registry: Registry) -> None:
    """Run the fleet process until SIGINT/SIGTERM (faust's worker owns the event loop and the signals);
    the registry is ``registry`` and the program.registry topic's changes, live."""
    # The registry as of now (the seed and the topic) before faust starts, so the first batches know
    # every house enrolled so far; what comes later the feed brings.
    registry = asyncio.run(_current(settings, registry))
    app = create_app(settings, registry, feed=RegistryFeed(settings, registry, client_id=f"{SERVICE}-registry"))
    if settings.market_fleet_metrics_port:  # one port per instance: off unless set
        start_http_server(settings.market_fleet_metrics_port, addr=settings.market_host)
    worker = faust.Worker(app, loglevel=FAUST_LOG_LEVELS.get(settings.log_level, "info"), quiet=True)
    worker.execute_from_commandline()
