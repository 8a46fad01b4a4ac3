"""Use case: as the clock passes them, close billing periods (issue invoices) and declare due dates.

Called by `readings.apply_readings_batch` under the partition's lock, in its transaction.
The invoice is computed by the domain: `domain.energy.unbilled_energy_by_segment` applies the
tariff to the stored hours, `domain.invoice.draft_invoice` prices and rounds the lines,
`domain.schedule.Schedule` says when a period closes and when it is due.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from energychain_shared import events, topics
from energychain_shared.events import deterministic_id
from energychain_shared.outbox import enqueue
from energychain_shared.registry import Resident

from energychain_billing import SERVICE_NAME
from energychain_billing.adapters import repository
from energychain_billing.context import BillingContext
from energychain_billing.domain.energy import unbilled_energy_by_segment
from energychain_billing.domain.invoice import DraftLine, draft_invoice
from energychain_billing.domain.periods import BillingPeriod
from energychain_billing.domain.tariff import Segment
from energychain_billing.ledger_entries import invoice_entry
from energychain_billing.views import statement_of


LAST_HOUR = timedelta(hours=1)


def invoice_id_of(house_id: str, period: BillingPeriod) -> str:
    """Invoice numbers people can read: ``<house>.<YYYY-MM>``."""
    return f"{house_id}.{period.label}"


async def advance(
    ctx: BillingContext, connection: AsyncConnection, partition: int, after: datetime, upto: datetime
) -> tuple[list[str], list[str]]:
    """Apply, in time order, every period close and due date of the partition's houses in (after, upto].

    Returns (invoices issued, invoices declared past due).
    """
    houses = await repository.houses_of_partition(connection, partition)
    # A period that ends before a house's first reading or credit has nothing to bill: start
    # from there, not from the partition's first watermark (which may be the epoch).
    first = await repository.first_data(connection, houses)
    closes: list[tuple[datetime, str, BillingPeriod]] = []
    dues: set[tuple[datetime, str]] = set()
    for house_id in houses:
        resident = ctx.resident(house_id)
        if resident is None or house_id not in first:
            continue
        schedule = ctx.schedules[resident.municipality_id]
        ends = resident.contract.ends_at(schedule.zone)  # moved out: the final period ends then
        for period in schedule.periods_closing(max(after, first[house_id]), upto, ends=ends):
            closes.append((schedule.issued_at(period), house_id, period))
            if schedule.due_at(period) <= upto:  # issued and due within the same step
                dues.add((schedule.due_at(period), house_id))
    for house_id, due_at in await repository.open_due_dates(connection, houses, upto):
        dues.add((due_at, house_id))
    # In time order; at one instant, due dates before closes (a due date never waits for a new invoice).
    steps = [(at, 1, house, period) for at, house, period in closes] + [(at, 0, house, None) for at, house in dues]
    issued: list[str] = []
    declared: list[str] = []
    for instant, _, house_id, period in sorted(steps, key=lambda s: (s[0], s[1], s[2])):
        resident = ctx.resident(house_id)
        if period is None:
            declared.extend(await declare_past_due(ctx, connection, partition, resident, instant))
        elif (invoice_id := await close_period(ctx, connection, partition, resident, period)) is not None:
            issued.append(invoice_id)
    return issued, declared


async def close_period(
    ctx: BillingContext, connection: AsyncConnection, partition: int, resident: Resident, period: BillingPeriod
) -> str | None:
    """Issue the house's invoice for ``period`` (once); None when there is nothing to bill yet."""
    house_id = resident.house_id
    invoice_id = invoice_id_of(house_id, period)
    if await repository.invoice_exists(connection, invoice_id):
        return None
    tariff = ctx.tariff(resident)
    current, late = unbilled_energy_by_segment(
        tariff, period, await repository.unbilled_hours(connection, house_id, period.end)
    )
    # Settlements arrive on another consumer, without this partition's lock: the invoice takes
    # exactly the credits it read (locked), never one committed between this read and the update.
    credits = await repository.lock_unbilled_credits(connection, house_id, period.end)
    invoiced, own_so_far = await repository.invoiced_so_far(connection, house_id)
    if not current and not late and not credits and invoiced == 0:
        return None
    paid = await repository.paid_total(connection, house_id)
    refills: dict[Segment, int] = {}
    for credit in credits:
        segment = tariff.segment_at(credit.delivery_hour)
        refills[segment] = refills.get(segment, 0) + int(credit.refill_wh)
    draft = draft_invoice(
        tariff=tariff,
        period_wh=current,
        late_wh=late,
        refill_wh=refills,
        trade_credit_cents=sum(int(c.credit_cents) for c in credits),
        balance_forward_cents=own_so_far - paid,
    )
    schedule = ctx.schedules[resident.municipality_id]
    issued_at, due_at = schedule.issued_at(period), schedule.due_at(period)
    municipality_id = ctx.municipality_at(resident, period.end - LAST_HOUR)  # a move within the period: the new one
    lines = [line_json(line) for line in draft.lines]
    await repository.insert_invoice(connection, {
        "invoice_id": invoice_id, "house_id": house_id, "municipality_id": municipality_id,
        "period": period.label, "period_start": period.start, "period_end": period.end, "issued_at": issued_at,
        "due_at": due_at, "new_charges_cents": draft.new_charges_cents, "own_charges_cents": draft.own_charges_cents,
        "total_cents": draft.total_cents, "energy_wh": draft.ppa_energy_wh, "lines": lines,
    })
    await repository.mark_billed(connection, house_id, invoice_id, period.end, [c.settlement_id for c in credits])
    issued = events.InvoiceIssued(
        event_id=deterministic_id("invoice-issued", invoice_id),
        occurred_at=issued_at, producer=SERVICE_NAME, invoice_id=invoice_id, house_id=house_id,
        municipality_id=municipality_id, period=period.label, period_start=period.start,
        period_end=period.end, due_at=due_at, lines=tuple(events.InvoiceLine(**line) for line in lines),
        total_cents=draft.total_cents,
    )
    await enqueue(connection, [
        ctx.outbox(topics.INVOICES, issued, partition=partition),
        ctx.outbox(topics.LEDGER_APPENDS, invoice_entry(ctx.signing_key, issued, draft.new_charges_cents)),
    ])
    return invoice_id


def line_json(line: DraftLine) -> dict[str, Any]:
    """An invoice line as stored and published (the rate as a decimal string)."""
    return {
        "number": line.number, "kind": line.kind, "description": line.description, "energy_wh": line.energy_wh,
        "rate_usd_per_kwh": None if line.rate_usd_per_kwh is None else str(line.rate_usd_per_kwh),
        "amount_cents": line.amount_cents,
    }


async def declare_past_due(
    ctx: BillingContext, connection: AsyncConnection, partition: int, resident: Resident, instant: datetime
) -> list[str]:
    """At ``instant`` (a due date), mark the house's invoices due then: past due if unpaid, settled otherwise."""
    due = await repository.invoices_due(connection, resident.house_id, instant)
    if not due:
        return []
    position = await statement_of(connection, resident.house_id, instant)
    outstanding = {s.invoice_id: s.outstanding_cents for s in position.invoices}
    declared = []
    for invoice_id, due_at, municipality_id in due:
        unpaid = outstanding.get(invoice_id, 0)
        await repository.set_past_due(connection, invoice_id, max(0, unpaid))
        if unpaid > 0:
            notice = events.InvoicePastDue(
                event_id=deterministic_id("invoice-past-due", invoice_id),
                occurred_at=due_at, producer=SERVICE_NAME, invoice_id=invoice_id,
                house_id=resident.house_id, municipality_id=municipality_id, due_at=due_at,
                unpaid_cents=unpaid,
            )
            await enqueue(connection, [ctx.outbox(topics.PAST_DUE, notice, partition=partition)])
            declared.append(invoice_id)
    return declared
