"""Views of a municipality's escrow: summary, movements, rollovers, months, past-due invoices."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from energychain_shared.registry import Municipality

from energychain_escrow.adapters import repository
from energychain_escrow.context import EscrowContext, terms_of
from energychain_escrow.domain.book import EscrowBook, month_label
from energychain_escrow.domain.refusals import NotAMunicipality, UnknownMunicipality, check_months, check_times
from energychain_escrow.domain.timeline import next_month

MONTHLY_KINDS = ("payment_share", "repayment", "past_due_cover", "treasury_rollover", "endowment")


def own_municipality(ctx: EscrowContext, municipality_id: str | None) -> Municipality:
    """The caller's own municipality (from its token)."""
    municipality = ctx.municipality(municipality_id or "")
    if municipality is None:
        raise NotAMunicipality("token", "no registered municipality in the token")
    return municipality


def municipality_named(ctx: EscrowContext, municipality_id: str) -> Municipality:
    """The registered municipality ``municipality_id``."""
    municipality = ctx.municipality(municipality_id)
    if municipality is None:
        raise UnknownMunicipality("municipality_id", f"no municipality {municipality_id!r}")
    return municipality


async def summary(ctx: EscrowContext, municipality: Municipality) -> dict[str, Any]:
    """Balance, terms, what went to the treasury, and how far escrow has processed."""
    async with ctx.engine.connect() as connection:
        return await _summary(connection, municipality)


async def every_summary(ctx: EscrowContext) -> list[dict[str, Any]]:
    """The summary of every registered municipality."""
    async with ctx.engine.connect() as connection:
        return [await _summary(connection, m) for m in ctx.registry.municipalities]


async def movements(
    ctx: EscrowContext, municipality: Municipality, *, start: datetime | None = None, end: datetime | None = None,
) -> list[dict[str, Any]]:
    """Movements in [start, end), oldest first."""
    check_times(start, end)
    async with ctx.engine.connect() as connection:
        rows = await repository.movements_of(connection, municipality.municipality_id, start=start, end=end)
    return [_movement_json(r) for r in rows]


async def rollovers(ctx: EscrowContext, municipality: Municipality) -> list[dict[str, Any]]:
    """Month-end rollovers into the treasury (positive amounts), oldest first."""
    async with ctx.engine.connect() as connection:
        rows = await repository.movements_of(connection, municipality.municipality_id, kinds=["treasury_rollover"])
    return [{"month": r.month, "occurred_at": r.occurred_at.isoformat(), "amount_cents": -int(r.amount_cents)}
            for r in rows]


async def monthly(
    ctx: EscrowContext, municipality: Municipality, *, first: str | None, last: str | None
) -> list[dict[str, Any]]:
    """Escrow by month: opening, each kind of movement, closing; cover_event marks months with past-due cover."""
    check_months(first, last)
    async with ctx.engine.connect() as connection:
        rows = [_movement_json(r) for r in await repository.movements_of(connection, municipality.municipality_id)]
        book = await repository.book_of(connection, municipality.municipality_id)
    if not rows:
        return []
    final = rows[-1]["month"]
    if book is not None and book.processed_until is not None:
        final = max(final, month_label(book.processed_until.astimezone(municipality.zone)))
    by_month: dict[str, list[dict]] = {}
    for row in rows:
        by_month.setdefault(row["month"], []).append(row)
    out, balance, month = [], 0, rows[0]["month"]
    while month <= final:
        moved = by_month.get(month, [])
        sums = {k: sum(abs(r["amount_cents"]) for r in moved if r["kind"] == k) for k in MONTHLY_KINDS}
        opening = balance
        balance = moved[-1]["balance_after_cents"] if moved else balance
        if (first is None or month >= first) and (last is None or month <= last):
            out.append({
                "month": month, "opening_cents": opening, **{f"{k}_cents": v for k, v in sums.items()},
                "closing_cents": balance, "cover_event": sums["past_due_cover"] > 0,
            })
        month = next_month(month)
    return out


async def past_due(ctx: EscrowContext, municipality: Municipality) -> list[dict[str, Any]]:
    """Residents' invoices currently past due, what escrow covered, what it could not, what they owe escrow."""
    async with ctx.engine.connect() as connection:
        saved = await repository.book_of(connection, municipality.municipality_id)
    book = EscrowBook.from_json(terms_of(municipality), saved.state if saved else None)
    return [
        {
            "house_id": i.house_id, "invoice_id": i.invoice_id, "due_at": i.due_at.isoformat(),
            "unpaid_cents": i.outstanding_cents, "unpaid_at_due_cents": i.unpaid_at_due_cents,
            "covered_cents": i.covered_cents, "shortfall_cents": i.shortfall_cents,
            "escrow_debt_cents": book.debts.get(i.house_id, 0),
        }
        for i in book.past_due
    ]


async def _summary(connection: AsyncConnection, municipality: Municipality) -> dict[str, Any]:
    m = municipality.municipality_id
    book = await repository.book_of(connection, m)
    treasury = await repository.treasury_total(connection, m)
    terms = terms_of(municipality)
    processed = None if book is None else book.processed_until
    return {
        "municipality_id": m, "name": municipality.name,
        "balance_cents": (book.state if book else {}).get("balance_cents", 0), "cap_cents": terms.cap_cents,
        "share_percent": str(terms.share_percent), "endowment_cents": terms.endowment_cents,
        "treasury_total_cents": treasury,
        "processed_until": None if processed is None else processed.isoformat(),
    }


def _movement_json(row: Row) -> dict[str, Any]:
    return {
        "movement_id": row.movement_id, "occurred_at": row.occurred_at.isoformat(), "month": row.month,
        "kind": row.kind, "amount_cents": int(row.amount_cents),
        "balance_after_cents": int(row.balance_after_cents), "house_id": row.house_id,
        "invoice_id": row.invoice_id,
    }
