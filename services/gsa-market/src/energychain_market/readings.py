"""Use case of the readings read model: a batch of meter.readings into compact house-hour rows and watermarks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from energychain_shared import events

from energychain_market import metrics
from energychain_market.adapters import readings as store
from energychain_market.adapters.readings import ReadingRow
from energychain_market.context import MarketContext


def reading_row(reading: events.MeterReadingRecorded) -> ReadingRow:
    """The read model's compact row of one reading."""
    return (
        reading.interval_start, reading.house_id, reading.home_wh, reading.grid_export_wh, reading.grid_import_wh,
        reading.battery_discharged_wh,
    )


def rows_and_watermarks(
    batches: Iterable[tuple[int, Sequence[events.Event]]],
) -> tuple[list[ReadingRow], dict[int, datetime]]:
    """The readings of (partition, events) batches as rows, and each partition's latest watermark in them."""
    rows: list[ReadingRow] = []
    watermarks: dict[int, datetime] = {}
    for partition, batch in batches:
        for event in batch:
            if isinstance(event, events.MeterReadingRecorded):
                rows.append(reading_row(event))
            elif isinstance(event, events.ClockWatermarkReached):
                current = watermarks.get(partition)
                if current is None or event.sim_time > current:
                    watermarks[partition] = event.sim_time
    return rows, watermarks


async def store_readings(ctx: MarketContext, rows: Sequence[ReadingRow], watermarks: dict[int, datetime]) -> None:
    """Persist readings (a reading seen twice kept once) and partition watermarks, in one commit."""
    async with ctx.engine.begin() as connection:
        await store.add_readings(connection, rows)
        await store.advance_watermarks(connection, watermarks)
    metrics.READINGS.inc(len(rows))
