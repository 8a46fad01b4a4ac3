"""Ingest: billing's events into escrow's inbox (each once) with billing's per-partition watermarks.

Billing's events arrive on three topics and twelve partitions in any interleaving. Escrow
keeps each once, with the highest watermark seen per partition; `books` applies them later
in event-time order, so the history is the same whatever the arrival order, redelivery or restarts.
"""

from __future__ import annotations

from collections.abc import Sequence
from energychain_shared import events

from energychain_escrow.adapters import repository
from energychain_escrow.context import EscrowContext


def inbox_row(event: events.Event) -> repository.InboxRow | None:
    """The inbox row of a billing event escrow reacts to (None for any other event)."""
    if isinstance(event, events.PaymentReceived):
        kind, at, amount = "payment", event.occurred_at, event.amount_cents
    elif isinstance(event, events.InvoicePastDue):
        kind, at, amount = "past_due", event.due_at, event.unpaid_cents
    elif isinstance(event, events.InvoiceIssued):
        kind, at, amount = "invoice", event.occurred_at, event.total_cents
    else:
        return None
    return repository.InboxRow(event.event_id, event.municipality_id, kind, at, event.house_id, event.invoice_id,
                               amount, event.model_dump_json())


async def ingest(ctx: EscrowContext, topic: str, partition: int, batch: Sequence[events.Event]) -> int:
    """Keep one partition's billing events (once each) and its latest watermark; returns the events kept."""
    rows = [row for row in map(inbox_row, batch) if row is not None]
    marks = [e.sim_time for e in batch if isinstance(e, events.ClockWatermarkReached)]
    if not rows and not marks:
        return 0
    async with ctx.engine.begin() as connection:
        await repository.add_to_inbox(connection, rows)
        if marks:
            await repository.raise_watermark(connection, topic=topic, partition=partition, sim_time=max(marks))
    return len(rows)
