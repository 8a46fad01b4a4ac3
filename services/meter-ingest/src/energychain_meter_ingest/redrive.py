"""Re-driving a dead-lettered meter row: the corrected row is read as the replay reads that line of its file,
published as the reading the replay would have published (same event id, same bytes, same partition), and
then marked resolved on meter.readings.dlq (``MeterReadingRedriven``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timezone

from energychain_shared.registry import Registry

from energychain_meter_ingest.adapters.csv_source import HouseSource, row_fields, rows_before
from energychain_meter_ingest.adapters.dead_letters import DeadLetterFollower
from energychain_meter_ingest.adapters.publisher import BatchPublisher
from energychain_meter_ingest.adapters.wire import redriven_event
from energychain_meter_ingest.domain.dead_letters import (
    CorrectionRejected,
    DeadLetter,
    DeadLetterBook,
    RedriveRefused,
    Resolution,
    read_correction,
    redrivable,
)
from energychain_meter_ingest.domain.readings import (
    MeterFileParser, Reading, ValidationPolicy, out_of_contract_rejection, unknown_house_rejection,
)
from energychain_meter_ingest.replay import TopicNames, contract_end, house_zone


class StillReading(RuntimeError):
    """The dead-letter topics are not read to their end yet: a dead letter's state is not known."""


class Redriver:
    """Re-drives reading dead letters, one at a time, so that each is resolved once."""

    def __init__(
        self,
        *,
        follower: DeadLetterFollower,
        sources: list[HouseSource],
        registry: Registry,
        policy: ValidationPolicy,
        topic_names: TopicNames,
        open_publisher: Callable[[], AbstractAsyncContextManager[BatchPublisher]],
        current_registry: Callable[[], Awaitable[Registry]] | None = None,
    ) -> None:
        self.follower = follower
        self.current_registry = current_registry  # the live registry, read before each re-drive
        self.book: DeadLetterBook = follower.book
        self.sources = {(source.house_id, source.source_file): source for source in sources}
        self.registry = registry
        self.policy = policy
        self.topics = topic_names
        self.open_publisher = open_publisher
        self._lock = asyncio.Lock()

    def corrected_reading(self, letter: DeadLetter, raw: str) -> Reading:
        """The reading the replay gives ``raw`` at the dead letter's line of its file, or why it gives none."""
        source = self.sources.get((letter.house_id, letter.source_file))
        if source is None:
            raise RedriveRefused(
                "source_file_unknown",
                f"the manifest maps no file {letter.source_file} to house {letter.house_id}: "
                "correct the file and replay it instead",
            )
        fields = row_fields(raw)
        zone = house_zone(self.registry, letter.house_id)
        if zone is None:
            raise CorrectionRejected(unknown_house_rejection(
                house_id=letter.house_id, source_file=letter.source_file, line=letter.source_line, fields=fields))
        parser = MeterFileParser(house_id=letter.house_id, zone=zone, policy=self.policy, source_file=letter.source_file)
        earlier = rows_before(source, letter.source_line,
                              corrections=self.book.corrections(house_id=letter.house_id, source_file=letter.source_file))
        try:
            reading = read_correction(parser, earlier_rows=earlier, line=letter.source_line, fields=fields)
        except OSError as error:
            raise RedriveRefused("source_file_unreadable", f"cannot read {source.path}: {error.strerror or error}") from None
        ended = contract_end(self.registry, letter.house_id)
        if ended is not None and reading.hour >= ended:
            raise CorrectionRejected(out_of_contract_rejection(reading=reading, fields=fields, ended=ended))
        return reading

    async def redrive(self, dead_letter_id: str, raw: str, *, operator: str) -> Resolution:
        """Publish the corrected row's reading, then the marker that resolves the dead letter; the resolution."""
        async with self._lock:
            if await self.follower.behind() != 0:
                raise StillReading("still reading the dead-letter topics: try again in a moment")
            letter = redrivable(self.book.get(dead_letter_id), dead_letter_id)
            if self.current_registry is not None:  # enrolments and move-outs since the last re-drive
                self.registry = await self.current_registry()
            reading = self.corrected_reading(letter, raw)
            marker = redriven_event(letter.id, reading, raw=raw, operator=operator)
            async with self.open_publisher() as publisher:
                # The reading is on the broker before the marker that says so.
                await publisher.add_readings([reading], reading.hour)
                await asyncio.gather(*await publisher.submit_all())
                await publisher.add_event(self.topics.dead_letters, marker)
                (delivered,) = await asyncio.gather(*await publisher.submit_all())
            # The broker's append time, as the follower reads it back (-1 on a topic that keeps the sender's).
            millis = delivered.timestamp if delivered.timestamp >= 0 else time.time() * 1000
            resolution = Resolution(
                dead_letter_id=letter.id, reading_event_id=marker.reading_event_id, house_id=marker.house_id,
                source_file=marker.source_file, source_line=marker.source_line, raw=raw, redriven_by=operator,
                resolved_at=datetime.fromtimestamp(millis / 1000, timezone.utc),
            )
            self.book.resolve(resolution)
            return resolution
