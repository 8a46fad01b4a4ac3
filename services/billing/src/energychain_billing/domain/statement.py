"""A resident's account from its invoices and payments: balance, what is paid, what is past due."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from energychain_billing.domain.invoice import unpaid_by_invoice


@dataclass(frozen=True)
class IssuedInvoice:
    """What the statement needs of an issued invoice."""

    invoice_id: str
    own_charges_cents: int  # this invoice's charges less its trade credits (no balance forward)
    due_at: datetime


@dataclass(frozen=True)
class InvoiceStatus:
    """How much of one invoice is paid and whether it is past due."""

    invoice_id: str
    paid_cents: int
    outstanding_cents: int
    past_due: bool

    @property
    def status(self) -> str:
        """open, paid or past_due."""
        if self.outstanding_cents <= 0:
            return "paid"
        return "past_due" if self.past_due else "open"


@dataclass(frozen=True)
class Statement:
    """A resident's position at one simulated instant."""

    balance_cents: int
    past_due_cents: int
    invoices: tuple[InvoiceStatus, ...]

    @property
    def past_due(self) -> bool:
        """Anything past its due date still unpaid."""
        return self.past_due_cents > 0


def statement(
    invoices: Sequence[IssuedInvoice], *, paid_cents: int, uninvoiced_credit_cents: int, now: datetime | None
) -> Statement:
    """Balance = invoiced charges - payments - trade credits not yet on an invoice; payments go oldest first.

    An invoice is past due when ``now`` (the simulated clock) has passed its due date with part unpaid.
    """
    unpaid = unpaid_by_invoice([(i.invoice_id, i.own_charges_cents) for i in invoices], paid_cents=paid_cents)
    statuses = []
    for invoice in invoices:
        outstanding = unpaid[invoice.invoice_id]
        own = invoice.own_charges_cents
        statuses.append(
            InvoiceStatus(
                invoice_id=invoice.invoice_id,
                paid_cents=max(0, own) - outstanding,
                outstanding_cents=outstanding,
                past_due=outstanding > 0 and now is not None and now >= invoice.due_at,
            )
        )
    balance = sum(i.own_charges_cents for i in invoices) - paid_cents - uninvoiced_credit_cents
    past_due_cents = sum(s.outstanding_cents for s in statuses if s.past_due)
    return Statement(balance_cents=balance, past_due_cents=past_due_cents, invoices=tuple(statuses))
