"""One municipality's escrow account and the rules that move money in and out of it (PRODUCT.md).

- Every payment is split: it first repays what escrow covered for that resident
  (repayment), then ``share_percent`` of the rest goes into escrow (payment share),
  rounded half-up to the cent.
- When an invoice goes past due, escrow pays the unpaid amount, as much as it holds
  (past-due cover); the resident now owes that to escrow. What escrow could not cover
  stays past due, visible as the shortfall.
- The account starts with the endowment; at each month end anything above the cap rolls
  over into the municipal treasury.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

MovementKind = Literal["endowment", "payment_share", "past_due_cover", "repayment", "treasury_rollover"]


@dataclass(frozen=True)
class Terms:
    """A municipality's escrow terms."""

    endowment_cents: int
    share_percent: Decimal
    cap_cents: int


@dataclass(frozen=True)
class Movement:
    """Money into (+) or out of (-) escrow, with the balance after it."""

    kind: MovementKind
    amount_cents: int
    balance_after_cents: int
    occurred_at: datetime
    month: str  # the month the movement belongs to (a rollover belongs to the month that ended)
    key: str  # the fact it comes from, unique per movement kind: makes the movement id
    house_id: str | None = None
    invoice_id: str | None = None


@dataclass
class PastDueInvoice:
    """An invoice that went past due: what was unpaid, what escrow covered, what is still unpaid."""

    house_id: str
    invoice_id: str
    due_at: datetime
    unpaid_at_due_cents: int
    covered_cents: int
    outstanding_cents: int

    @property
    def shortfall_cents(self) -> int:
        """What escrow could not cover when the invoice went past due."""
        return self.unpaid_at_due_cents - self.covered_cents


def share_of(amount_cents: int, percent: Decimal) -> int:
    """``percent`` of an amount, half-up to the cent."""
    return int((Decimal(amount_cents) * percent / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def month_label(local: datetime) -> str:
    """``YYYY-MM`` of a local datetime."""
    return f"{local.year:04d}-{local.month:02d}"


@dataclass
class EscrowBook:
    """The state of one municipality's escrow and the rules that change it."""

    terms: Terms
    balance_cents: int = 0
    endowed: bool = False
    debts: dict[str, int] = field(default_factory=dict)
    past_due: list[PastDueInvoice] = field(default_factory=list)
    rolled_over_until: str | None = None  # the last month whose end was processed
    opened_month: str | None = None  # the month of the endowment: the first month that ends

    def _move(self, kind: MovementKind, amount: int, *, at: datetime, month: str, key: str,
              house_id: str | None = None, invoice_id: str | None = None) -> Movement:
        self.balance_cents += amount
        return Movement(kind, amount, self.balance_cents, at, month, key, house_id, invoice_id)

    def endow(self, *, at: datetime, month: str) -> list[Movement]:
        """The initial endowment, once."""
        if self.endowed:
            return []
        self.endowed = True
        self.opened_month = month
        if self.terms.endowment_cents == 0:
            return []
        return [self._move("endowment", self.terms.endowment_cents, at=at, month=month, key="endowment")]

    def pay(self, *, house_id: str, amount_cents: int, payment_id: str, at: datetime, month: str) -> list[Movement]:
        """A resident's payment: repay escrow first, then the share of the rest."""
        if amount_cents <= 0:
            raise ValueError("a payment is positive")
        movements = []
        repaid = min(amount_cents, self.debts.get(house_id, 0))
        if repaid:
            self.debts[house_id] -= repaid
            movements.append(self._move("repayment", repaid, at=at, month=month, key=payment_id, house_id=house_id))
        share = share_of(amount_cents - repaid, self.terms.share_percent)
        if share:
            movements.append(self._move("payment_share", share, at=at, month=month, key=payment_id, house_id=house_id))
        self._settle_past_due(house_id, amount_cents)
        return movements

    def _settle_past_due(self, house_id: str, amount_cents: int) -> None:
        # Billing allocates payments to the oldest invoice first; past-due invoices are the oldest.
        left = amount_cents
        for invoice in self.past_due:
            if invoice.house_id != house_id or left <= 0:
                continue
            applied = min(left, invoice.outstanding_cents)
            invoice.outstanding_cents -= applied
            left -= applied
        self.past_due = [i for i in self.past_due if i.outstanding_cents > 0]

    def cover(self, *, house_id: str, invoice_id: str, unpaid_cents: int, due_at: datetime, month: str) -> list[Movement]:
        """An invoice went past due: escrow pays what it can; the resident's debt moves to escrow."""
        if any(i.invoice_id == invoice_id for i in self.past_due):
            return []
        covered = min(unpaid_cents, max(0, self.balance_cents))
        self.past_due.append(PastDueInvoice(house_id, invoice_id, due_at, unpaid_cents, covered, unpaid_cents))
        if not covered:
            return []
        self.debts[house_id] = self.debts.get(house_id, 0) + covered
        return [self._move("past_due_cover", -covered, at=due_at, month=month, key=invoice_id,
                           house_id=house_id, invoice_id=invoice_id)]

    def month_end(self, *, month: str, at: datetime) -> list[Movement]:
        """Roll anything above the cap into the treasury at the end of ``month``."""
        if self.rolled_over_until is not None and month <= self.rolled_over_until:
            return []
        self.rolled_over_until = month
        excess = self.balance_cents - self.terms.cap_cents
        if excess <= 0:
            return []
        return [self._move("treasury_rollover", -excess, at=at, month=month, key=month)]

    # ------------------------------------------------------------- persistence
    def to_json(self) -> dict:
        """A JSON-able snapshot of the state (the terms come from the registry)."""
        return {
            "balance_cents": self.balance_cents, "endowed": self.endowed, "debts": self.debts,
            "rolled_over_until": self.rolled_over_until, "opened_month": self.opened_month,
            "past_due": [{**asdict(i), "due_at": i.due_at.isoformat()} for i in self.past_due],
        }

    @classmethod
    def from_json(cls, terms: Terms, data: dict | None) -> EscrowBook:
        """The book saved by ``to_json`` (a fresh one for None)."""
        if not data:
            return cls(terms)
        return cls(
            terms=terms, balance_cents=data["balance_cents"], endowed=data["endowed"], debts=dict(data["debts"]),
            rolled_over_until=data["rolled_over_until"], opened_month=data["opened_month"],
            past_due=[PastDueInvoice(**{**i, "due_at": datetime.fromisoformat(i["due_at"])}) for i in data["past_due"]],
        )
