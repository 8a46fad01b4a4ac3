"""The replay: merges house exports in time order onto Kafka under a paced, checkpointed simulated clock."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from energychain_shared import topics
from energychain_shared.registry import Registry

from energychain_meter_ingest import metrics
from energychain_meter_ingest.adapters.checkpoint import Checkpoint, CheckpointStore
from energychain_meter_ingest.adapters.csv_source import HouseSource, house_readings, inspect_export
from energychain_meter_ingest.adapters.publisher import BatchPublisher
from energychain_meter_ingest.adapters.wire import clock_event, rejection_event, watermark_event
from energychain_meter_ingest.domain.clock import Pacing
from energychain_meter_ingest.domain.merge import merge_by_hour, run_clock_on
from energychain_meter_ingest.domain.readings import (
    NotAMeterExport,
    Rejection,
    ValidationPolicy,
    hour_start,
)

log = logging.getLogger(__name__)
HOUR = 3600


def house_zone(registry: Registry, house_id: str) -> ZoneInfo | None:
    """The time zone a house's export is written in (its municipality's); None for a house the registry does not know."""
    resident = registry.by_house.get(house_id)
    if resident is None:
        return None
    return registry.by_municipality[resident.municipality_id].zone


class ReplayState(StrEnum):
    """Where the replay is."""

    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"


class RefusedExport(ValueError):
    """One of the replay's files is not a meter export: nothing was published."""


def contract_end(registry: Registry, house_id: str) -> int | None:
    """When the house's contract ended (epoch s), if it did: its later readings are out of contract."""
    resident = registry.by_house.get(house_id)
    if resident is None:
        return None
    ends = resident.contract.ends_at(registry.by_municipality[resident.municipality_id].zone)
    return None if ends is None else int(ends.timestamp())


@dataclass
class ReplayCounters:
    """What the replay did so far (this process)."""

    published: int = 0
    dead_lettered: int = 0
    flagged: int = 0
    exact_duplicates: int = 0
    hours: int = 0
    dead_letters_by_reason: Counter = field(default_factory=Counter)


@dataclass(frozen=True)
class TopicNames:
    """Broker-side names of the topics the replay writes."""

    readings: str
    dead_letters: str
    clock: str

    @classmethod
    def from_settings(cls, settings) -> TopicNames:
        """Names under the installation's topic prefix."""
        return cls(
            readings=settings.topic(topics.METER_READINGS),
            dead_letters=settings.topic(topics.METER_DEAD_LETTERS),
            clock=settings.topic(topics.CLOCK),
        )


class Replay:
    """Owns the simulated clock: publishes each hour's readings, then its watermarks and clock tick."""

    def __init__(
        self,
        *,
        sources: list[HouseSource],
        registry: Registry,
        policy: ValidationPolicy,
        topic_names: TopicNames,
        checkpoints: CheckpointStore,
        replay_id: str,
        checkpoint_interval_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        current_registry: Callable[[], Awaitable[Registry]] | None = None,
    ) -> None:
        self.sources = sources
        self.registry = registry
        self.current_registry = current_registry  # the live registry, read when a run starts
        self.policy = policy
        self.topics = topic_names
        self.checkpoints = checkpoints
        self.replay_id = replay_id
        self.checkpoint_interval_s = checkpoint_interval_s
        self.monotonic = monotonic
        self.state = ReplayState.IDLE
        self.counters = ReplayCounters()
        self.sim_time: int | None = None
        self.speed: Decimal | None = None
        self.error: str | None = None
        self.first_hour: int | None = None
        self.last_hour_in_files: int | None = None
        self._pacing: Pacing | None = None
        self._resume = asyncio.Event()
        self._resume.set()
        self._pause_requested = False
        self._stop_requested = False
        self._speed_changed = asyncio.Event()
        self._pending_rejections: list[Rejection] = []
        self._checkpointed: Checkpoint | None = None
        self._started_wall: float | None = None
        self._base_published = 0

    # ------------------------------------------------------------------ control
    def check_sources(self) -> None:
        """Refuse the replay before publishing anything if any file is not a meter export."""
        for source in self.sources:
            try:
                inspect_export(source.path)
            except NotAMeterExport as error:
                raise RefusedExport(f"{source.path} (house {source.house_id}) is not a meter export: {error}") from None

    def pause(self) -> None:
        """Stop at the end of the current simulated hour, after a checkpoint."""
        if self.state is ReplayState.RUNNING:
            self._pause_requested = True
            self._resume.clear()

    def resume(self) -> None:
        """Continue a paused replay from where it stopped."""
        self._pause_requested = False
        self._resume.set()

    def stop(self) -> None:
        """End the replay at the end of the current hour (checkpointed)."""
        self._stop_requested = True
        self._resume.set()

    def set_speed(self, speed: Decimal | None) -> None:
        """Change the pace; the simulated clock continues from where it is."""
        self.speed = speed
        metrics.REPLAY_SPEED.set(0 if speed is None else float(speed))
        if self.sim_time is not None:
            self._pacing = Pacing(wall_anchor=self.monotonic(), sim_anchor=self.sim_time, speed=speed)
        self._speed_changed.set()

    def status(self) -> dict:
        """State, simulated time, speed and counters."""
        checkpoint = self._checkpointed or self.checkpoints.load()
        elapsed = None if self._started_wall is None else self.monotonic() - self._started_wall
        return {
            "replay_id": self.replay_id,
            "state": self.state.value,
            "sim_time": None if self.sim_time is None else hour_start(self.sim_time).isoformat(),
            "speed": "max" if self.speed is None else str(self.speed),
            "houses": len(self.sources),
            "hours_published": self.counters.hours,
            "published": self.counters.published,
            "dead_lettered": self.counters.dead_lettered,
            "flagged": self.counters.flagged,
            "exact_duplicates": self.counters.exact_duplicates,
            "checkpoint": None if checkpoint is None else checkpoint.last_hour_start.isoformat(),
            "readings_per_s": None if not elapsed else round(self.counters.published / elapsed, 1),
            "error": self.error,
        }

    # --------------------------------------------------------------------- run
    def _on_rejection(self, rejection: Rejection) -> None:
        self._pending_rejections.append(rejection)
        self.counters.dead_lettered += 1
        self.counters.dead_letters_by_reason[rejection.reason] += 1
        metrics.READINGS_DEAD_LETTERED.labels(rejection.reason).inc()

    def _on_duplicate(self) -> None:
        self.counters.exact_duplicates += 1
        metrics.DUPLICATES_SKIPPED.inc()

    def resume_point(self, from_time: datetime | None) -> int | None:
        """Readings at or before this hour are not published: the checkpoint or the requested start."""
        checkpoint = self.checkpoints.load()
        after = None if checkpoint is None else checkpoint.last_hour
        if from_time is not None:
            requested = int(from_time.timestamp()) // HOUR * HOUR - HOUR
            after = requested if after is None else max(after, requested)
        return after

    async def run(
        self,
        publisher: BatchPublisher,
        *,
        speed: Decimal | None,
        from_time: datetime | None = None,
        until: datetime | None = None,
    ) -> ReplayCounters:
        """Publish every house-hour after the resume point (and before ``until``) in time order."""
        self.check_sources()
        if self.current_registry is not None:  # houses enrolled since this replay was built are known
            self.registry = await self.current_registry()
        self.state = ReplayState.RUNNING
        self.error = None
        self._stop_requested = self._pause_requested = False
        self._resume.set()
        self.speed = speed
        metrics.REPLAY_SPEED.set(0 if speed is None else float(speed))
        resume_after = self.resume_point(from_time)
        previous = self.checkpoints.load()
        self._base_published = 0 if previous is None else previous.readings_published
        until_hour = None if until is None else int(until.timestamp())
        streams = [
            house_readings(
                source,
                zone=house_zone(self.registry, source.house_id),
                contract_end=contract_end(self.registry, source.house_id),
                policy=self.policy,
                on_rejection=self._on_rejection,
                on_duplicate=self._on_duplicate,
                resume_after=resume_after,
            )
            for source in self.sources
        ]
        checkpoint_queue: asyncio.Queue = asyncio.Queue()
        checkpointer = asyncio.create_task(self._checkpoint_loop(checkpoint_queue))
        last_flush = self.monotonic()
        self._started_wall = self.monotonic()
        last_hour: int | None = None
        try:
            for hour, readings in run_clock_on(merge_by_hour(streams), after=resume_after, until=until_hour):
                await self._publish_rejections(publisher, hour=hour)
                if until_hour is not None and hour >= until_hour:
                    break
                if self._pacing is None:
                    self._pacing = Pacing(wall_anchor=self.monotonic(), sim_anchor=hour, speed=self.speed)
                    self.first_hour = hour
                await self._wait_until_due(hour + HOUR)
                await publisher.add_readings(readings, hour)
                await self._close_hour(publisher, hour)
                self._count(readings)
                last_hour = hour
                if self.speed is not None or self.monotonic() - last_flush >= self.checkpoint_interval_s:
                    checkpoint_queue.put_nowait((hour, self.counters.published, await publisher.submit_all()))
                    last_flush = self.monotonic()
                if self._pause_requested or self._stop_requested:
                    checkpoint_queue.put_nowait((hour, self.counters.published, await publisher.submit_all()))
                    await self._drain(checkpoint_queue, checkpointer)
                    if self._stop_requested:
                        self.state = ReplayState.STOPPED
                        break
                    self.state = ReplayState.PAUSED
                    await self._resume.wait()
                    if self._stop_requested:
                        self.state = ReplayState.STOPPED
                        break
                    self.state = ReplayState.RUNNING
                    self._pacing = Pacing(wall_anchor=self.monotonic(), sim_anchor=hour + HOUR, speed=self.speed)
            await self._publish_rejections(publisher)
            futures = await publisher.submit_all()
            if last_hour is not None:
                checkpoint_queue.put_nowait((last_hour, self.counters.published, futures))
            else:
                await asyncio.gather(*futures)
            await self._drain(checkpoint_queue, checkpointer)
            if self.state is ReplayState.RUNNING:
                self.state = ReplayState.FINISHED
            return self.counters
        except BaseException as error:
            self.state = ReplayState.FAILED if not isinstance(error, asyncio.CancelledError) else ReplayState.STOPPED
            self.error = f"{type(error).__name__}: {error}"
            raise
        finally:
            checkpointer.cancel()
            await asyncio.gather(checkpointer, return_exceptions=True)
            for stream in streams:
                stream.close()

    def _count(self, readings) -> None:
        self.counters.published += len(readings)
        self.counters.hours += 1
        metrics.READINGS_PUBLISHED.inc(len(readings))
        for reading in readings:
            if reading.quality_flags:
                self.counters.flagged += 1
                for flag in reading.quality_flags:
                    metrics.READINGS_FLAGGED.labels(flag).inc()
                if "unbalanced" in reading.quality_flags:
                    metrics.IMBALANCE_WH.inc(abs(reading.imbalance_wh))

    async def _close_hour(self, publisher: BatchPublisher, hour: int) -> None:
        # Every partition gets the watermark, in order after the hour's readings, so keyed
        # consumers close periods on the stream itself without reading the wall clock.
        sim_time = hour + HOUR
        for partition in range(publisher.readings_partitions):
            await publisher.add_event(self.topics.readings, watermark_event(sim_time, partition), partition=partition)
        await publisher.add_event(self.topics.clock, clock_event(self.replay_id, sim_time, self.speed))
        self.sim_time = sim_time
        metrics.SIM_TIME.set(sim_time)

    async def _publish_rejections(self, publisher: BatchPublisher, *, hour: int | None = None) -> None:
        if not self._pending_rejections:
            return
        # A row without an hour of its own is dated by the simulated clock (before the first hour is
        # closed: the hour about to be published), so filtering dead letters by date finds it there.
        clock = self.sim_time if self.sim_time is not None else hour
        fallback = hour_start(clock if clock is not None else 0)
        pending, self._pending_rejections = self._pending_rejections, []
        for rejection in pending:
            await publisher.add_event(self.topics.dead_letters, rejection_event(rejection, fallback_time=fallback))

    async def _wait_until_due(self, sim_time: int) -> None:
        while self.speed is not None and self._pacing is not None and not self._stop_requested:
            delay = self._pacing.wall_due(sim_time) - self.monotonic()
            if delay <= 0:
                return
            self._speed_changed.clear()
            try:
                await asyncio.wait_for(self._speed_changed.wait(), timeout=min(delay, 1.0))
            except TimeoutError:
                pass

    @staticmethod
    async def _drain(queue: asyncio.Queue, checkpointer: asyncio.Task) -> None:
        """Wait until every queued checkpoint is written, or raise the delivery failure."""
        joined = asyncio.ensure_future(queue.join())
        await asyncio.wait({joined, checkpointer}, return_when=asyncio.FIRST_COMPLETED)
        if not joined.done():
            joined.cancel()
        if checkpointer.done():
            checkpointer.result()

    async def _checkpoint_loop(self, queue: asyncio.Queue) -> None:
        while True:
            hour, published, futures = await queue.get()
            try:
                if futures:
                    await asyncio.gather(*futures)
                checkpoint = Checkpoint(
                    replay_id=self.replay_id, last_hour=hour, readings_published=self._base_published + published
                )
                self.checkpoints.save(checkpoint)
                self._checkpointed = checkpoint
            except BaseException as error:
                self.error = f"delivery failed: {type(error).__name__}: {error}"
                self.state = ReplayState.FAILED
                queue.task_done()
                raise
            queue.task_done()
