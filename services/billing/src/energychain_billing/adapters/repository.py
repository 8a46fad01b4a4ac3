"""Every query billing makes, on a SQLAlchemy AsyncConnection in billing's schema.

The readings hot path runs on the same transaction's driver connection (asyncpg): the
partition lock and watermark (once per consumed batch) and the hours with COPY
(`store_hours`): a year of 1,000 houses is 8.8 M rows. Everything else is SQLAlchemy Core
over the tables of `adapters.tables`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import any_, bindparam, func, literal_column, select, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import Text

from energychain_shared.db import driver_connection

from energychain_billing.adapters.tables import hourly, houses, invoices, payments, progress, trade_credits
from energychain_billing.adapters.tables import registry_changes as registry_changes_table
from energychain_billing.domain.energy import MeteredHour
from energychain_billing.domain.statement import IssuedInvoice

NOT_STARTED = datetime(1970, 1, 1, tzinfo=timezone.utc)
HOUR_COLUMNS = [f.name for f in fields(MeteredHour)]


def _texts(values: Sequence[str]):
    return bindparam(None, list(values), type_=ARRAY(Text))


# ---------------------------------------------------------------- progress and hours
async def lock_partition(connection: AsyncConnection, partition: int) -> datetime:
    """Lock the partition's progress row (created at the epoch when new); returns its watermark."""
    # Once per consumed batch, on the driver connection like the hours: a no-op update locks an existing row.
    raw = await driver_connection(connection)
    return await raw.fetchval(
        "INSERT INTO progress (partition, watermark) VALUES ($1, $2) "
        "ON CONFLICT (partition) DO UPDATE SET watermark = progress.watermark RETURNING watermark",
        partition, NOT_STARTED,
    )


async def set_watermark(connection: AsyncConnection, partition: int, watermark: datetime) -> None:
    """Record how far the partition's watermark has been applied."""
    raw = await driver_connection(connection)
    await raw.execute("UPDATE progress SET watermark = $2 WHERE partition = $1", partition, watermark)


async def store_hours(connection: AsyncConnection, partition: int, rows: Sequence[tuple[str, MeteredHour]]) -> None:
    """Keep (house, hour) rows, the first delivery of each house-hour winning; learn each house's partition."""
    if not rows:
        return
    raw = await driver_connection(connection)
    await raw.execute(
        "CREATE TEMP TABLE IF NOT EXISTS incoming_hours (LIKE hourly INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    await raw.copy_records_to_table(
        "incoming_hours",
        records=[
            (house_id, h.interval_start, h.home_wh, h.solar_wh, h.grid_import_wh, h.grid_export_wh,
             h.battery_charged_wh, h.battery_discharged_wh, None)
            for house_id, h in rows
        ],
        columns=["house_id", *HOUR_COLUMNS, "invoice_id"],
    )
    await raw.execute("INSERT INTO hourly SELECT * FROM incoming_hours ON CONFLICT (house_id, interval_start) DO NOTHING")
    await raw.execute(
        "INSERT INTO houses (house_id, partition, first_interval) "
        "SELECT house_id, $1, min(interval_start) FROM incoming_hours GROUP BY house_id "
        "ON CONFLICT (house_id) DO UPDATE SET partition = EXCLUDED.partition, "
        "first_interval = least(houses.first_interval, EXCLUDED.first_interval)",
        partition,
    )
    await raw.execute("TRUNCATE incoming_hours")


async def houses_of_partition(connection: AsyncConnection, partition: int) -> list[str]:
    """The houses whose readings arrive on ``partition``, by id."""
    rows = await connection.execute(
        select(houses.c.house_id).where(houses.c.partition == partition).order_by(houses.c.house_id)
    )
    return list(rows.scalars())


async def first_data(connection: AsyncConnection, house_ids: Sequence[str]) -> dict[str, datetime]:
    """Each house's first metered hour or trade credit (houses with neither are left out)."""
    # Per house, so each min() is one step down a primary key.
    first_hour = (
        select(func.min(hourly.c.interval_start)).where(hourly.c.house_id == houses.c.house_id).scalar_subquery()
    )
    first_credit = (
        select(func.min(trade_credits.c.delivery_hour))
        .where(trade_credits.c.house_id == houses.c.house_id).scalar_subquery()
    )
    rows = await connection.execute(
        select(houses.c.house_id, func.least(first_hour, first_credit))
        .where(houses.c.house_id == any_(_texts(house_ids)))
    )
    return {house_id: first for house_id, first in rows if first is not None}


async def open_due_dates(connection: AsyncConnection, house_ids: Sequence[str], upto: datetime) -> list[tuple[str, datetime]]:
    """(house, due date) of invoices not yet declared, due by ``upto`` (the clock's step, or earlier: the final
    invoice of a contract ended after the fact can be issued after its due date)."""
    rows = await connection.execute(
        select(invoices.c.house_id, invoices.c.due_at).distinct().where(
            invoices.c.house_id == any_(_texts(house_ids)), invoices.c.past_due_cents.is_(None),
            invoices.c.due_at <= upto,
        )
    )
    return [(house_id, due_at) for house_id, due_at in rows]


# ---------------------------------------------------------------- period close
async def invoice_exists(connection: AsyncConnection, invoice_id: str) -> bool:
    """Whether ``invoice_id`` has been issued."""
    return await connection.scalar(select(literal_column("1")).where(invoices.c.invoice_id == invoice_id)) is not None


async def unbilled_hours(connection: AsyncConnection, house_id: str, before: datetime) -> list[MeteredHour]:
    """The house's hours not yet on an invoice that start before ``before``."""
    rows = await connection.execute(
        select(*(hourly.c[name] for name in HOUR_COLUMNS)).where(
            hourly.c.house_id == house_id, hourly.c.invoice_id.is_(None), hourly.c.interval_start < before,
        )
    )
    return [MeteredHour(*row) for row in rows]


async def lock_unbilled_credits(connection: AsyncConnection, house_id: str, before: datetime) -> list[Any]:
    """The house's trade credits not yet invoiced, delivered before ``before``, locked for this transaction."""
    rows = await connection.execute(
        select(trade_credits.c.settlement_id, trade_credits.c.delivery_hour, trade_credits.c.credit_cents,
               trade_credits.c.refill_wh)
        .where(trade_credits.c.house_id == house_id, trade_credits.c.invoice_id.is_(None),
               trade_credits.c.delivery_hour < before)
        .with_for_update()
    )
    return list(rows)


async def invoiced_so_far(connection: AsyncConnection, house_id: str) -> tuple[int, int]:
    """(how many invoices, the sum of their own charges) of the house."""
    row = (await connection.execute(
        select(func.count(), func.coalesce(func.sum(invoices.c.own_charges_cents), 0))
        .where(invoices.c.house_id == house_id)
    )).one()
    return int(row[0]), int(row[1])


async def paid_total(connection: AsyncConnection, house_id: str) -> int:
    """Everything the house has paid."""
    return int(await connection.scalar(
        select(func.coalesce(func.sum(payments.c.amount_cents), 0)).where(payments.c.house_id == house_id)
    ))


async def insert_invoice(connection: AsyncConnection, values: dict[str, Any]) -> None:
    """Store an issued invoice (``lines`` a list of JSON objects)."""
    await connection.execute(insert(invoices).values(values))


async def mark_billed(
    connection: AsyncConnection, house_id: str, invoice_id: str, before: datetime, settlement_ids: Sequence[str]
) -> None:
    """Put the house's unbilled hours before ``before`` and the given credits on ``invoice_id``."""
    await connection.execute(
        update(hourly)
        .where(hourly.c.house_id == house_id, hourly.c.invoice_id.is_(None), hourly.c.interval_start < before)
        .values(invoice_id=invoice_id)
    )
    if settlement_ids:
        await connection.execute(
            update(trade_credits).where(trade_credits.c.settlement_id == any_(_texts(settlement_ids)))
            .values(invoice_id=invoice_id)
        )


async def issued_invoices(connection: AsyncConnection, house_id: str) -> list[IssuedInvoice]:
    """The house's invoices in issue order, as the statement needs them."""
    rows = await connection.execute(
        select(invoices.c.invoice_id, invoices.c.own_charges_cents, invoices.c.due_at)
        .where(invoices.c.house_id == house_id).order_by(invoices.c.issued_at, invoices.c.invoice_id)
    )
    return [IssuedInvoice(invoice_id, int(own), due_at) for invoice_id, own, due_at in rows]


async def uninvoiced_credit(connection: AsyncConnection, house_id: str) -> int:
    """Trade credits of the house not yet on an invoice."""
    return int(await connection.scalar(
        select(func.coalesce(func.sum(trade_credits.c.credit_cents), 0))
        .where(trade_credits.c.house_id == house_id, trade_credits.c.invoice_id.is_(None))
    ))


async def invoices_due(connection: AsyncConnection, house_id: str,
                       instant: datetime) -> list[tuple[str, datetime, str]]:
    """(invoice, due date, its municipality) of the house's undeclared invoices due at ``instant``."""
    rows = await connection.execute(
        select(invoices.c.invoice_id, invoices.c.due_at, invoices.c.municipality_id).where(
            invoices.c.house_id == house_id, invoices.c.due_at == instant, invoices.c.past_due_cents.is_(None),
        )
    )
    return [(invoice_id, due_at, municipality_id) for invoice_id, due_at, municipality_id in rows]


async def set_past_due(connection: AsyncConnection, invoice_id: str, unpaid_cents: int) -> None:
    """Record what was unpaid when the invoice fell due (0: settled in time)."""
    await connection.execute(
        update(invoices).where(invoices.c.invoice_id == invoice_id).values(past_due_cents=unpaid_cents)
    )


async def keep_trade_credits(connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Keep settlements' credits and refills for the next invoice; a repeated settlement is kept once."""
    if rows:
        await connection.execute(insert(trade_credits).on_conflict_do_nothing(index_elements=["settlement_id"]), rows)


# ---------------------------------------------------------------- payments
async def house(connection: AsyncConnection, house_id: str) -> Any | None:
    """The house's partition and first hour, or None before its first reading."""
    return (await connection.execute(
        select(houses.c.partition, houses.c.first_interval).where(houses.c.house_id == house_id)
    )).first()


async def payment_by_key(connection: AsyncConnection, house_id: str, idempotency_key: str) -> Any | None:
    """The house's payment made with ``idempotency_key``, if any."""
    return (await connection.execute(
        select(payments).where(payments.c.house_id == house_id, payments.c.idempotency_key == idempotency_key)
    )).first()


async def has_invoice(connection: AsyncConnection, house_id: str, invoice_id: str) -> bool:
    """Whether ``invoice_id`` is one of the house's invoices."""
    found = await connection.scalar(
        select(literal_column("1")).where(invoices.c.invoice_id == invoice_id, invoices.c.house_id == house_id)
    )
    return found is not None


async def insert_payment(connection: AsyncConnection, values: dict[str, Any]) -> Any:
    """Store a payment; returns the stored row."""
    return (await connection.execute(insert(payments).values(values).returning(payments))).one()


# ---------------------------------------------------------------- reads
async def sim_time_of(connection: AsyncConnection, house_id: str) -> datetime | None:
    """The simulated clock as billing knows it for the house (its partition's watermark)."""
    value = await connection.scalar(
        select(progress.c.watermark).join(houses, houses.c.partition == progress.c.partition)
        .where(houses.c.house_id == house_id)
    )
    return None if value is None or value == NOT_STARTED else value


async def invoice_rows(connection: AsyncConnection, house_id: str) -> list[Any]:
    """The house's invoices, oldest first (every column but the lines)."""
    columns = [c for c in invoices.c if c.name != "lines"]
    rows = await connection.execute(
        select(*columns).where(invoices.c.house_id == house_id).order_by(invoices.c.issued_at, invoices.c.invoice_id)
    )
    return list(rows)


async def invoice_lines(connection: AsyncConnection, invoice_id: str) -> list[dict[str, Any]] | None:
    """The stored lines of one invoice."""
    lines = await connection.scalar(select(invoices.c.lines).where(invoices.c.invoice_id == invoice_id))
    return json.loads(lines) if isinstance(lines, str) else lines


async def payment_rows(connection: AsyncConnection, house_id: str) -> list[Any]:
    """The house's payments, oldest first."""
    rows = await connection.execute(
        select(payments).where(payments.c.house_id == house_id).order_by(payments.c.received_at, payments.c.recorded_at)
    )
    return list(rows)


async def last_invoice_period(connection: AsyncConnection, house_id: str) -> str | None:
    """The period of the house's newest invoice."""
    return await connection.scalar(
        select(invoices.c.period).where(invoices.c.house_id == house_id)
        .order_by(invoices.c.issued_at.desc()).limit(1)
    )


async def hours_between(connection: AsyncConnection, house_id: str, start: datetime, end: datetime) -> list[MeteredHour]:
    """The house's metered hours in [start, end), in time order."""
    rows = await connection.execute(
        select(*(hourly.c[name] for name in HOUR_COLUMNS)).where(
            hourly.c.house_id == house_id, hourly.c.interval_start >= start, hourly.c.interval_start < end,
        ).order_by(hourly.c.interval_start)
    )
    return [MeteredHour(*row) for row in rows]


# ---------------------------------------------------------------- benchmark probes
async def partitions_at(connection: AsyncConnection, watermark: datetime) -> int:
    """How many partitions have applied ``watermark``."""
    return int(await connection.scalar(select(func.count()).select_from(progress).where(progress.c.watermark >= watermark)))


async def invoice_count(connection: AsyncConnection) -> int:
    """How many invoices billing has issued."""
    return int(await connection.scalar(select(func.count()).select_from(invoices)))


async def hour_count(connection: AsyncConnection) -> int:
    """How many house-hours billing has recorded."""
    return int(await connection.scalar(select(func.count()).select_from(hourly)))


# ------------------------------------------------------------- program registry
LOCK_REGISTRY = 0x65632001  # serialises the administration API's changes (any billing process)


async def lock_registry(connection: AsyncConnection) -> None:
    """Hold the registry's lock until the transaction ends."""
    await connection.execute(select(func.pg_advisory_xact_lock(LOCK_REGISTRY)))


async def registry_changes(connection: AsyncConnection, *, kinds: Sequence[str] = (),
                           subject: str | None = None) -> list[Any]:
    """The accepted changes in the order they were accepted (optionally of some kinds, one subject)."""
    query = select(registry_changes_table).order_by(registry_changes_table.c.seq)
    if kinds:
        query = query.where(registry_changes_table.c.kind == any_(_texts(kinds)))
    if subject is not None:
        query = query.where(registry_changes_table.c.subject == subject)
    return (await connection.execute(query)).all()


async def last_invoiced_end(connection: AsyncConnection, house_id: str) -> datetime | None:
    """The end of the house's latest invoiced period, if it has an invoice."""
    return await connection.scalar(select(func.max(invoices.c.period_end)).where(invoices.c.house_id == house_id))


async def insert_registry_changes(connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Record accepted changes (``event_id, kind, subject, body, recorded_by``)."""
    if rows:
        await connection.execute(insert(registry_changes_table), list(rows))
