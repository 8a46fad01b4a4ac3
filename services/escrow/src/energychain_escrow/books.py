"""Process: move the ready inbox events onto each municipality's book, up to billing's lowest watermark.

A municipality's book applies only what lies at or before the lowest watermark over every
partition of billing's three topics, sorted by event time (`domain.timeline.apply`). Each
municipality is applied in one transaction under its own advisory lock (several workers may
run): its movements, its new state, the inbox rows marked applied, and the outbox
(EscrowMoved and the signed ledger append of each movement) are written together.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from energychain_shared import events, topics
from energychain_shared.events import deterministic_id
from energychain_shared.outbox import OutboxRow, enqueue, outbox_row
from energychain_shared.registry import Municipality

from energychain_escrow import SERVICE_NAME
from energychain_escrow.adapters import repository
from energychain_escrow.context import INPUT_TOPICS, EscrowContext, terms_of
from energychain_escrow.domain.book import EscrowBook, Movement
from energychain_escrow.domain.timeline import Fact, apply
from energychain_escrow.ledger_entries import ledger_entry


async def ready_until(ctx: EscrowContext, connection: AsyncConnection) -> datetime | None:
    """The lowest of billing's watermarks over every partition of its three topics (None until all are known)."""
    known, lowest = await repository.watermarks_of(connection, ctx.input_topics())
    return lowest if known == sum(t.partitions for t in INPUT_TOPICS) else None


async def process(ctx: EscrowContext) -> int:
    """Apply every municipality's ready facts; returns the movements made."""
    made = 0
    async with ctx.engine.connect() as connection:
        async with connection.begin():
            upto = await ready_until(ctx, connection)
        if upto is None:
            return 0
        for municipality in ctx.registry.municipalities:
            async with connection.begin():
                made += await _process_municipality(ctx, connection, municipality, upto)
    return made


async def _process_municipality(
    ctx: EscrowContext, connection: AsyncConnection, municipality: Municipality, upto: datetime
) -> int:
    m = municipality.municipality_id
    start = ctx.program_start(municipality)
    if start is None:
        return 0
    await repository.lock_book(connection, m)
    saved = await repository.open_book(connection, m)
    rows = await repository.pending_facts(connection, m, upto=upto)
    if not rows and saved.processed_until is not None and saved.processed_until >= upto:
        return 0
    book = EscrowBook.from_json(terms_of(municipality), saved.state or None)
    history = apply(book, [_fact(r) for r in rows], zone=municipality.zone, program_start=start, upto=upto)
    moved = [_moved(m, movement) for movement in history]
    # In the book's order: seq keeps the history's order for the views.
    await repository.add_movements(
        connection, [_movement_row(e.movement_id, m, movement) for e, movement in zip(moved, history, strict=True)]
    )
    await enqueue(connection, _outbox_rows(ctx, moved))
    await repository.mark_applied(connection, [r.event_id for r in rows])
    await repository.save_book(connection, m, state=book.to_json(), processed_until=upto)
    return len(history)


def _fact(row: Row) -> Fact:
    return Fact(at=row.occurred_at, kind=row.kind, event_id=row.event_id, house_id=row.house_id,
                amount_cents=int(row.amount_cents), invoice_id=row.invoice_id)


def _moved(municipality_id: str, movement: Movement) -> events.EscrowMoved:
    movement_id = deterministic_id("escrow-movement", municipality_id, movement.kind, movement.key)
    return events.EscrowMoved(
        event_id=movement_id, occurred_at=movement.occurred_at, producer=SERVICE_NAME, movement_id=movement_id,
        municipality_id=municipality_id, kind=movement.kind, amount_cents=movement.amount_cents,
        balance_after_cents=movement.balance_after_cents, house_id=movement.house_id,
        invoice_id=movement.invoice_id,
    )


def _movement_row(movement_id: str, municipality_id: str, movement: Movement) -> dict[str, Any]:
    return {
        "movement_id": movement_id, "municipality_id": municipality_id, "kind": movement.kind,
        "amount_cents": movement.amount_cents, "balance_after_cents": movement.balance_after_cents,
        "occurred_at": movement.occurred_at, "month": movement.month, "house_id": movement.house_id,
        "invoice_id": movement.invoice_id,
    }


def _outbox_rows(ctx: EscrowContext, moved: Sequence[events.EscrowMoved]) -> list[OutboxRow]:
    movements_topic = ctx.settings.topic(topics.ESCROW_MOVEMENTS)
    appends_topic = ctx.settings.topic(topics.LEDGER_APPENDS)
    rows: list[OutboxRow] = []
    for event in moved:
        rows.append(outbox_row(movements_topic, event))
        rows.append(outbox_row(appends_topic, ledger_entry(ctx.signing_key, event)))
    return rows
