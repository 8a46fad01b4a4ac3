"""Use case: what residents, municipalities and the GSA read: invoices, statements, payments, usage."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from energychain_shared.registry import Resident

from energychain_billing.adapters import repository
from energychain_billing.context import BillingContext
from energychain_billing.domain.energy import Granularity, usage_buckets
from energychain_billing.domain.statement import Statement, statement
from energychain_billing.payments import payment_json


async def statement_of(connection: AsyncConnection, house_id: str, now: datetime | None) -> Statement:
    """The house's statement at ``now``: invoices oldest first with what is paid, the balance, past due."""
    return statement(
        await repository.issued_invoices(connection, house_id),
        paid_cents=await repository.paid_total(connection, house_id),
        uninvoiced_credit_cents=await repository.uninvoiced_credit(connection, house_id),
        now=now,
    )


def _summary(row: Any, status: Any) -> dict[str, Any]:
    return {
        "invoice_id": row.invoice_id, "period": row.period, "period_start": row.period_start.isoformat(),
        "period_end": row.period_end.isoformat(), "issued_at": row.issued_at.isoformat(),
        "due_at": row.due_at.isoformat(), "total_cents": int(row.total_cents),
        "new_charges_cents": int(row.new_charges_cents), "energy_wh": int(row.energy_wh),
        "paid_cents": status.paid_cents, "outstanding_cents": status.outstanding_cents, "status": status.status,
        "past_due": status.past_due,
    }


async def invoices_of(ctx: BillingContext, house_id: str) -> tuple[list[dict[str, Any]], Statement, datetime | None]:
    """Every invoice of the house with what is paid, oldest first, and the house's statement."""
    # One snapshot: an invoice issued meanwhile is in both the statement and the rows, or in neither.
    async with ctx.engine.connect() as connection:
        await connection.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        async with connection.begin():
            now = await repository.sim_time_of(connection, house_id)
            position = await statement_of(connection, house_id, now)
            rows = await repository.invoice_rows(connection, house_id)
    by_id = {s.invoice_id: s for s in position.invoices}
    return [_summary(r, by_id[r.invoice_id]) for r in rows], position, now


async def invoice_detail(ctx: BillingContext, house_id: str, invoice_id: str) -> dict[str, Any] | None:
    """One invoice with its lines, or None when it is not this house's."""
    summaries, _, _ = await invoices_of(ctx, house_id)
    summary = next((s for s in summaries if s["invoice_id"] == invoice_id), None)
    if summary is None:
        return None
    async with ctx.engine.connect() as connection:
        lines = await repository.invoice_lines(connection, invoice_id)
    return {**summary, "lines": lines}


async def payments_of(ctx: BillingContext, house_id: str) -> list[dict[str, Any]]:
    """The house's payments, oldest first."""
    async with ctx.engine.connect() as connection:
        return [payment_json(r) for r in await repository.payment_rows(connection, house_id)]


async def account_rows(ctx: BillingContext, residents: Sequence[Resident]) -> list[dict[str, Any]]:
    """Balance and past-due status of each resident."""
    out = []
    async with ctx.engine.connect() as connection:
        for resident in residents:
            now = await repository.sim_time_of(connection, resident.house_id)
            position = await statement_of(connection, resident.house_id, now)
            out.append({
                "house_id": resident.house_id, "name": resident.name, "address": resident.address,
                "municipality_id": resident.municipality_id, "balance_cents": position.balance_cents,
                "past_due": position.past_due, "past_due_cents": position.past_due_cents,
                "last_invoice_period": await repository.last_invoice_period(connection, resident.house_id),
            })
    return out


async def usage(
    ctx: BillingContext, resident: Resident, *, start: datetime, end: datetime, granularity: Granularity
) -> list[dict[str, Any]]:
    """Metered energy of the house in [start, end) by hour, or by local day or month, with what the tariff bills."""
    async with ctx.engine.connect() as connection:
        hours = await repository.hours_between(connection, resident.house_id, start, end)
    return [
        {**asdict(bucket), "start": bucket.start.isoformat()}
        for bucket in usage_buckets(ctx.tariff(resident), hours, granularity)
    ]
