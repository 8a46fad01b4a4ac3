"""Use case: record a partition's meter readings in order and apply its watermarks (closes and due dates on the way).

Everything billing decides for a house happens under the row lock of the house's
meter.readings partition (table ``progress``), in the transaction that records it, with
the events it implies written to the outbox in that same transaction. A redelivered
batch finds its readings already recorded and its watermark already passed, so it
changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from energychain_shared import events, topics
from energychain_shared.events import deterministic_id
from energychain_shared.outbox import OutboxRow, enqueue

from energychain_billing import SERVICE_NAME
from energychain_billing.adapters import repository
from energychain_billing.close import advance
from energychain_billing.context import BillingContext
from energychain_billing.domain.energy import MeteredHour

BILLING_TOPICS = (topics.INVOICES, topics.PAYMENTS, topics.PAST_DUE)


@dataclass
class BatchReport:
    """What one partition batch did."""

    readings: int = 0
    unknown_houses: int = 0
    invoices: list[str] = field(default_factory=list)
    past_due: list[str] = field(default_factory=list)
    watermark: datetime | None = None


REGISTRY_FRESH_S = 0.5  # at a period close, the registry as read within this long (one read serves every partition)


def metered_hour(reading: events.MeterReadingRecorded) -> MeteredHour:
    """The stored form of a reading."""
    return MeteredHour(
        reading.interval_start, reading.home_wh, reading.solar_wh, reading.grid_import_wh, reading.grid_export_wh,
        reading.battery_charged_wh, reading.battery_discharged_wh,
    )


async def apply_readings_batch(ctx: BillingContext, partition: int, batch: Sequence[events.Event]) -> BatchReport:
    """Record one partition's readings in order and apply its watermarks: closes and due dates on the way."""
    report = BatchReport()
    # A house enrolled since the registry was last read is known after reading it to its end.
    await ctx.knows_all({e.house_id for e in batch if isinstance(e, events.MeterReadingRecorded)})
    async with ctx.engine.begin() as connection:
        start = watermark = await repository.lock_partition(connection, partition)
        pending: list[tuple[str, MeteredHour]] = []
        for event in batch:
            if isinstance(event, events.MeterReadingRecorded):
                if ctx.resident(event.house_id) is None:
                    report.unknown_houses += 1
                    continue
                pending.append((event.house_id, metered_hour(event)))
            elif isinstance(event, events.ClockWatermarkReached) and event.sim_time > watermark:
                # Readings before a close must be stored before it, later ones after it: that is
                # what decides whether a reading is on its period's invoice or a late adjustment.
                if (ctx.boundaries.crosses_boundary(watermark, event.sim_time)
                        or ctx.recheck_final_closes(partition, watermark)):
                    if ctx.feed is not None:  # a change just published (a move-out, an amendment) counts here
                        await ctx.feed.sync(max_age_s=REGISTRY_FRESH_S)
                    await repository.store_hours(connection, partition, pending)
                    report.readings += len(pending)
                    pending = []
                    issued, declared = await advance(ctx, connection, partition, watermark, event.sim_time)
                    report.invoices.extend(issued)
                    report.past_due.extend(declared)
                watermark = event.sim_time
        await repository.store_hours(connection, partition, pending)
        report.readings += len(pending)
        if watermark > start:
            await repository.set_watermark(connection, partition, watermark)
            await enqueue(connection, _billing_watermarks(ctx, partition, watermark))
            report.watermark = watermark
    return report


def _billing_watermarks(ctx: BillingContext, partition: int, sim_time: datetime) -> list[OutboxRow]:
    """Billing's progress on ``partition``, in-band on each billing topic, after everything it decided before."""
    event = events.ClockWatermarkReached(
        event_id=deterministic_id("billing-watermark", partition, sim_time.isoformat()),
        occurred_at=sim_time, producer=SERVICE_NAME, sim_time=sim_time, partition=partition,
    )
    return [ctx.outbox(topic, event, partition=partition) for topic in BILLING_TOPICS]


async def record_trade_settlements(ctx: BillingContext, settlements: Iterable[events.TradeSettled]) -> int:
    """Keep each settlement's credit and refill for the house's next invoice (a repeat is kept once)."""
    rows = [
        {"settlement_id": s.settlement_id, "house_id": s.house_id, "delivery_hour": s.delivery_hour,
         "credit_cents": s.credit_cents, "refill_wh": s.refill_wh}
        for s in settlements if ctx.resident(s.house_id) is not None
    ]
    if rows:
        async with ctx.engine.begin() as connection:
            await repository.keep_trade_credits(connection, rows)
    return len(rows)
