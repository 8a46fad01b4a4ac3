"""Every query of escrow on the caller's connection (the caller owns the transaction).

SQLAlchemy Core throughout, except the inbox insert: raw asyncpg in the same transaction (the hot path).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import BigInteger, Row, Select, Text, any_, bindparam, cast, func, literal, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, TIMESTAMP, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from energychain_shared.db import driver_connection
from energychain_shared.migrations import SCHEMA_NAME
from energychain_shared.outbox import outbox

from energychain_escrow.adapters.tables import books, inbox, movements, watermarks

# The hot path (every billing event, thousands per poll): asyncpg's executemany on the driver connection of the
# caller's transaction takes about a quarter less time than the Core statement's per-row parameter processing.
# The event as received comes serialised (pydantic's JSON); PostgreSQL parses it into jsonb.
_ADD_TO_INBOX = (
    "INSERT INTO inbox (event_id, municipality_id, kind, occurred_at, house_id, invoice_id, amount_cents, payload) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb) ON CONFLICT (event_id) DO NOTHING"
)
_PENDING = select(
    inbox.c.event_id, inbox.c.kind, inbox.c.occurred_at, inbox.c.house_id, inbox.c.amount_cents, inbox.c.invoice_id,
)


class InboxRow(NamedTuple):
    """A billing event as the inbox keeps it (``payload``: the event's JSON text)."""

    event_id: str
    municipality_id: str
    kind: str
    occurred_at: datetime
    house_id: str
    invoice_id: str | None
    amount_cents: int
    payload: str


@dataclass(frozen=True)
class SavedBook:
    """A municipality's book as stored: the domain's JSON state and how far it has been processed."""

    state: dict[str, Any]
    processed_until: datetime | None


# ------------------------------------------------------------------ inbox
async def add_to_inbox(connection: AsyncConnection, rows: Sequence[InboxRow]) -> None:
    """Keep each billing event once (by event id)."""
    if rows:
        await (await driver_connection(connection)).executemany(_ADD_TO_INBOX, rows)


async def raise_watermark(connection: AsyncConnection, *, topic: str, partition: int, sim_time: datetime) -> None:
    """Billing's watermark of one partition, kept as the highest seen."""
    statement = insert(watermarks).values(topic=topic, partition=partition, sim_time=sim_time)
    await connection.execute(statement.on_conflict_do_update(
        index_elements=[watermarks.c.topic, watermarks.c.partition],
        set_={"sim_time": func.greatest(watermarks.c.sim_time, statement.excluded.sim_time)},
    ))


async def watermarks_of(connection: AsyncConnection, topics: Sequence[str]) -> tuple[int, datetime | None]:
    """How many partitions of ``topics`` have a watermark, and the lowest of them."""
    row = (await connection.execute(
        select(func.count(), func.min(watermarks.c.sim_time)).where(watermarks.c.topic.in_(list(topics)))
    )).one()
    return int(row[0]), row[1]


# ------------------------------------------------------------------ books
async def lock_book(connection: AsyncConnection, municipality_id: str) -> None:
    """Hold the municipality's book for this transaction: one instance at a time, whichever process runs it."""
    key = func.hashtextextended(f"escrow-book:{municipality_id}", 0)
    await connection.execute(select(func.pg_advisory_xact_lock(key)))


async def open_book(connection: AsyncConnection, municipality_id: str) -> SavedBook:
    """The municipality's stored book, created empty when it has none yet."""
    await connection.execute(
        insert(books).values(municipality_id=municipality_id, state={}).on_conflict_do_nothing()
    )
    row = (await connection.execute(_book(municipality_id))).one()
    return SavedBook(row.state, row.processed_until)


async def book_of(connection: AsyncConnection, municipality_id: str) -> SavedBook | None:
    """The municipality's stored book, if any."""
    row = (await connection.execute(_book(municipality_id))).first()
    return None if row is None else SavedBook(row.state, row.processed_until)


def _book(municipality_id: str) -> Select:
    return select(books.c.state, books.c.processed_until).where(books.c.municipality_id == municipality_id)


async def pending_facts(connection: AsyncConnection, municipality_id: str, *, upto: datetime) -> Sequence[Row]:
    """The municipality's inbox rows not yet applied, at or before ``upto``."""
    return (await connection.execute(
        _PENDING.where(inbox.c.municipality_id == municipality_id, ~inbox.c.applied, inbox.c.occurred_at <= upto)
    )).all()


async def add_movements(connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Store movements in the book's order (``seq`` keeps that order for the views)."""
    if rows:
        await connection.execute(insert(movements), list(rows))


async def mark_applied(connection: AsyncConnection, event_ids: Sequence[str]) -> None:
    """Mark inbox rows as applied to their book."""
    if event_ids:
        await connection.execute(
            update(inbox)
            .where(inbox.c.event_id == any_(bindparam("ids", list(event_ids), type_=ARRAY(Text))))
            .values(applied=True)
        )


async def save_book(
    connection: AsyncConnection, municipality_id: str, *, state: dict[str, Any], processed_until: datetime
) -> None:
    """Store the book's new state; ``processed_until`` never moves back."""
    await connection.execute(
        update(books).where(books.c.municipality_id == municipality_id).values(
            state=state,
            processed_until=func.greatest(books.c.processed_until, literal(processed_until, TIMESTAMP(timezone=True))),
        )
    )


# ------------------------------------------------------------------ views
async def treasury_total(connection: AsyncConnection, municipality_id: str) -> int:
    """Everything the municipality's escrow rolled over into its treasury (cents, positive)."""
    total = cast(func.coalesce(-func.sum(movements.c.amount_cents), 0), BigInteger)
    return int((await connection.execute(
        select(total).where(movements.c.municipality_id == municipality_id, movements.c.kind == "treasury_rollover")
    )).scalar_one())


async def movements_of(
    connection: AsyncConnection, municipality_id: str, *, start: datetime | None = None,
    end: datetime | None = None, kinds: Sequence[str] | None = None,
) -> Sequence[Row]:
    """The municipality's movements in [start, end) of the given kinds, in the book's order."""
    query = select(
        movements.c.movement_id, movements.c.occurred_at, movements.c.month, movements.c.kind,
        movements.c.amount_cents, movements.c.balance_after_cents, movements.c.house_id, movements.c.invoice_id,
    ).where(movements.c.municipality_id == municipality_id)
    if start is not None:
        query = query.where(movements.c.occurred_at >= start)
    if end is not None:
        query = query.where(movements.c.occurred_at < end)
    if kinds is not None:
        query = query.where(movements.c.kind.in_(list(kinds)))
    return (await connection.execute(query.order_by(movements.c.seq))).all()


# ------------------------------------------------------------------ benchmark
async def outbox_size(connection: AsyncConnection) -> int:
    """Rows in escrow's outbox, published or not."""
    return int((await connection.execute(select(func.count()).select_from(outbox))).scalar_one())


async def books_at_a_glance(connection: AsyncConnection) -> dict[str, tuple[int, int | None]]:
    """Municipality -> (movements stored, balance of its book)."""
    made = (
        select(func.count()).where(movements.c.municipality_id == books.c.municipality_id).scalar_subquery()
    )
    balance = cast(books.c.state["balance_cents"].astext, BigInteger)
    rows = (await connection.execute(select(books.c.municipality_id, made, balance))).all()
    return {m: (int(n), None if b is None else int(b)) for m, n, b in rows}


async def drop_schema(connection: AsyncConnection, schema: str) -> None:
    """Drop a scratch schema (a benchmark's, a test's) and everything in it."""
    if not SCHEMA_NAME.fullmatch(schema):
        raise ValueError(f"invalid schema name {schema!r}")
    await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
