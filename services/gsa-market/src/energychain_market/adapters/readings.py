"""The readings read model's queries: COPY a batch in, partition watermarks, delivered energy, hourly usage.

The batch goes in by COPY into a temporary table (the raw driver connection of the same
transaction), then into ``readings`` with ON CONFLICT DO NOTHING: a reading seen twice is
kept once, at COPY speed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import ARRAY, Row, Text, and_, cast, column, func, select, table, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from energychain_shared.db import driver_connection

from energychain_market.adapters.tables import READING_COLUMNS, TZ, reading_watermarks, readings

ReadingRow = tuple[datetime, str, int, int, int, int]  # in READING_COLUMNS order

_INCOMING = "readings_in"
_incoming = table(_INCOMING, *(column(name) for name in READING_COLUMNS))


async def add_readings(connection: AsyncConnection, rows: Sequence[ReadingRow]) -> None:
    """Add a batch of readings (COPY); a (hour, house) already stored keeps its first reading."""
    if not rows:
        return
    # The statement through SQLAlchemy also begins the transaction the driver's COPY then joins.
    await connection.execute(text(f"CREATE TEMP TABLE {_INCOMING} (LIKE readings) ON COMMIT DROP"))
    raw = await driver_connection(connection)
    await raw.copy_records_to_table(_INCOMING, records=rows, columns=list(READING_COLUMNS))
    await connection.execute(
        insert(readings).from_select(list(READING_COLUMNS), select(_incoming))
        .on_conflict_do_nothing(index_elements=[readings.c.hour, readings.c.house_id])
    )


async def advance_watermarks(connection: AsyncConnection, watermarks: Mapping[int, datetime]) -> None:
    """Move each partition's watermark forward (never back)."""
    if not watermarks:
        return
    statement = insert(reading_watermarks)
    statement = statement.on_conflict_do_update(
        index_elements=[reading_watermarks.c.partition],
        set_={"sim_time": func.greatest(reading_watermarks.c.sim_time, statement.excluded.sim_time)},
    )
    await connection.execute(statement, [{"partition": p, "sim_time": t} for p, t in sorted(watermarks.items())])


async def meter_watermark(connection: AsyncConnection, *, partitions: int) -> datetime | None:
    """Simulated time before which every partition's readings are in: the minimum over all ``partitions``."""
    seen, low = (
        await connection.execute(select(func.count(), func.min(reading_watermarks.c.sim_time)))
    ).one()
    return low if seen >= partitions else None


async def discharged_wh(
    connection: AsyncConnection, keys: Sequence[tuple[str, datetime]]
) -> dict[tuple[str, datetime], int]:
    """Metered battery discharge of each (house, hour) in ``keys`` that has a reading."""
    if not keys:
        return {}
    wanted = func.unnest(
        cast([hour for _house, hour in keys], ARRAY(TZ)), cast([house for house, _hour in keys], ARRAY(Text))
    ).table_valued("hour", "house_id").render_derived(name="wanted")
    statement = select(readings.c.house_id, readings.c.hour, readings.c.discharged_wh).join_from(
        readings, wanted, and_(readings.c.hour == wanted.c.hour, readings.c.house_id == wanted.c.house_id)
    )
    return {(house, hour): wh for house, hour, wh in await connection.execute(statement)}


async def hourly_usage(
    connection: AsyncConnection, *, low: datetime, high: datetime, house_ids: Sequence[str] | None
) -> Sequence[Row]:
    """(house_id, hour, home_wh, export_wh, import_wh) with low <= hour < high, by house and hour."""
    statement = (
        select(readings.c.house_id, readings.c.hour, readings.c.home_wh, readings.c.export_wh, readings.c.import_wh)
        .where(readings.c.hour >= low, readings.c.hour < high)
        .order_by(readings.c.house_id, readings.c.hour)
    )
    if house_ids is not None:
        statement = statement.where(readings.c.house_id.in_(house_ids))
    return (await connection.execute(statement)).all()
