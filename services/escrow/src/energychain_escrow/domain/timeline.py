"""Applying a municipality's facts to its book in event-time order, with the scheduled month ends between them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal
from zoneinfo import ZoneInfo

from energychain_escrow.domain.book import EscrowBook, Movement, month_label

# At one instant: a due date before a payment (the payment came after the invoice fell due),
# invoices last (they move no money).
RANK = {"past_due": 0, "payment": 1, "invoice": 2}


@dataclass(frozen=True)
class Fact:
    """A billing event escrow reacts to."""

    at: datetime
    kind: Literal["past_due", "payment", "invoice"]
    event_id: str
    house_id: str
    amount_cents: int = 0  # the payment, or the unpaid amount of a past-due invoice
    invoice_id: str | None = None

    @property
    def order(self) -> tuple:
        """Event time, then kind, then id: the same order however the facts arrived."""
        return (self.at, RANK[self.kind], self.event_id)


def next_month(label: str) -> str:
    """The month after ``YYYY-MM``."""
    year, month = map(int, label.split("-"))
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def month_end(label: str, zone: ZoneInfo) -> datetime:
    """Local midnight starting the month after ``label``, in UTC."""
    year, month = map(int, next_month(label).split("-"))
    return datetime(year, month, 1, tzinfo=zone).astimezone(timezone.utc)


def apply(
    book: EscrowBook, facts: Sequence[Fact], *, zone: ZoneInfo, program_start: datetime, upto: datetime
) -> list[Movement]:
    """Apply ``facts`` (all at or before ``upto``) in order, endowing first and closing every month that ended.

    A month end at instant E is applied before the facts at or after E; month ends up to ``upto`` are applied.
    Facts are applied after whatever the book already holds, even when older (a late arrival).
    """
    local = lambda instant: month_label(instant.astimezone(zone))  # noqa: E731
    movements: list[Movement] = []
    ordered = sorted(facts, key=lambda f: f.order)
    if not book.endowed:
        opening = min([program_start, *(f.at for f in ordered)])
        if opening > upto:
            return movements
        movements += book.endow(at=opening, month=local(opening))

    def close_months(until: datetime) -> None:
        while True:
            month = book.opened_month if book.rolled_over_until is None else next_month(book.rolled_over_until)
            end = month_end(month, zone)
            if end > until:
                return
            movements.extend(book.month_end(month=month, at=end))

    for fact in ordered:
        close_months(fact.at)
        # A fact older than a month already closed (it arrived after escrow had processed past its time)
        # belongs to the first month still open: closed months never change.
        month = max(local(fact.at), next_month(book.rolled_over_until) if book.rolled_over_until else local(fact.at))
        if fact.kind == "payment":
            movements += book.pay(house_id=fact.house_id, amount_cents=fact.amount_cents, payment_id=fact.event_id,
                                  at=fact.at, month=month)
        elif fact.kind == "past_due":
            movements += book.cover(house_id=fact.house_id, invoice_id=fact.invoice_id or fact.event_id,
                                    unpaid_cents=fact.amount_cents, due_at=fact.at, month=month)
    close_months(upto)
    return movements
