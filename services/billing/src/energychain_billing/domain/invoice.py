"""Composing an invoice from priced charges, and allocating payments to invoices."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from energychain_billing.domain.tariff import Segment, Tariff, energy_amount_cents

LineKind = Literal["ppa_energy", "reserve_refill", "trade_credit", "balance_forward", "late_adjustment"]
# Lines posted to the ledger as new charges; balance forward and trade credits are not.
CHARGE_KINDS = frozenset({"ppa_energy", "reserve_refill", "late_adjustment"})


@dataclass(frozen=True)
class EnergyCharge:
    """Energy to bill at one rate: PPA energy, a reserve refill or a late adjustment."""

    kind: Literal["ppa_energy", "reserve_refill", "late_adjustment"]
    description: str
    energy_wh: int
    rate_usd_per_kwh: Decimal


@dataclass(frozen=True)
class DraftLine:
    """One invoice line, rounded to the cent."""

    number: int
    kind: LineKind
    description: str
    amount_cents: int
    energy_wh: int | None = None
    rate_usd_per_kwh: Decimal | None = None


@dataclass(frozen=True)
class InvoiceDraft:
    """An invoice's lines and its totals."""

    lines: tuple[DraftLine, ...]

    @property
    def new_charges_cents(self) -> int:
        """PPA energy, refills and late adjustments: what the ledger posts as revenue."""
        return sum(line.amount_cents for line in self.lines if line.kind in CHARGE_KINDS)

    @property
    def own_charges_cents(self) -> int:
        """This invoice's own charges: new charges less trade credits (no balance forward)."""
        return sum(line.amount_cents for line in self.lines if line.kind != "balance_forward")

    @property
    def ppa_energy_wh(self) -> int:
        """The energy of the period's own PPA energy lines (what the energy cost chart shows)."""
        return sum(line.energy_wh or 0 for line in self.lines if line.kind == "ppa_energy")

    @property
    def total_cents(self) -> int:
        """Amount due: balance carried forward plus this invoice's own charges."""
        return sum(line.amount_cents for line in self.lines)


def energy_charges_by_segment(
    tariff: Tariff,
    wh_by_segment: dict[Segment, int],
    *,
    kind: Literal["ppa_energy", "reserve_refill", "late_adjustment"],
    label: str | None,
) -> list[EnergyCharge]:
    """One charge per segment (contract year and piece of the terms), each at its escalated rate; ``label``
    None names PPA energy by the segment's billing basis."""
    return [
        EnergyCharge(
            kind=kind,
            description=f"{label or BASIS_LABELS[tariff.basis_of(segment.terms)]} ({tariff.describe(segment)})",
            energy_wh=wh,
            rate_usd_per_kwh=tariff.rate_of(segment),
        )
        for segment, wh in sorted(wh_by_segment.items())
    ]


BASIS_LABELS = {"delivered": "PPA energy delivered", "all_consumption": "PPA energy, all home consumption"}


def compose_invoice(
    *,
    charges: Sequence[EnergyCharge],
    trade_credit_cents: int,
    balance_forward_cents: int,
) -> InvoiceDraft:
    """Number and round the lines: balance forward, charges in the given order, trade credit."""
    lines: list[DraftLine] = []
    if balance_forward_cents:
        lines.append(
            DraftLine(
                number=1,
                kind="balance_forward",
                description="balance carried forward" if balance_forward_cents > 0 else "credit carried forward",
                amount_cents=balance_forward_cents,
            )
        )
    for charge in charges:
        lines.append(
            DraftLine(
                number=len(lines) + 1,
                kind=charge.kind,
                description=charge.description,
                energy_wh=charge.energy_wh,
                rate_usd_per_kwh=charge.rate_usd_per_kwh,
                amount_cents=energy_amount_cents(charge.energy_wh, charge.rate_usd_per_kwh),
            )
        )
    if trade_credit_cents < 0:
        raise ValueError("trade credit must not be negative")
    if trade_credit_cents:
        lines.append(
            DraftLine(
                number=len(lines) + 1,
                kind="trade_credit",
                description="reserve sold on the wholesale market, less the GSA fee",
                amount_cents=-trade_credit_cents,
            )
        )
    return InvoiceDraft(lines=tuple(lines))


def unpaid_by_invoice(invoices: Sequence[tuple[str, int]], *, paid_cents: int) -> dict[str, int]:
    """Allocate payments and credits to invoices oldest first; what each still has unpaid.

    ``invoices`` are (invoice id, own charges) in issue order. Payments and the credit of
    invoices whose own charges are negative form one pool paid into the oldest open invoice.
    """
    pool = paid_cents + sum(-own for _, own in invoices if own < 0)
    unpaid: dict[str, int] = {}
    for invoice_id, own in invoices:
        if own <= 0:
            unpaid[invoice_id] = 0
            continue
        applied = min(pool, own)
        pool -= applied
        unpaid[invoice_id] = own - applied
    return unpaid


def draft_invoice(
    *,
    tariff: Tariff,
    period_wh: dict[Segment, int],
    late_wh: dict[Segment, int],
    refill_wh: dict[Segment, int],
    trade_credit_cents: int,
    balance_forward_cents: int,
) -> InvoiceDraft:
    """The invoice of one period from billed Wh per segment, refills, credits and the balance forward.

    Energy of the period is PPA energy; unbilled energy of earlier periods (readings that arrived
    after their period was invoiced) is a late adjustment; each is split by segment (contract year,
    and piece of the terms when the contract was amended) so every line has one rate. Zero-energy
    lines are left out.
    """
    nonzero = lambda by_segment: {key: wh for key, wh in by_segment.items() if wh}  # noqa: E731
    charges = [
        *energy_charges_by_segment(tariff, nonzero(period_wh), kind="ppa_energy", label=None),
        *energy_charges_by_segment(tariff, nonzero(refill_wh), kind="reserve_refill", label="battery reserve refill"),
        *energy_charges_by_segment(
            tariff, nonzero(late_wh), kind="late_adjustment", label="late readings of earlier periods"
        ),
    ]
    return compose_invoice(
        charges=charges, trade_credit_cents=trade_credit_cents, balance_forward_cents=balance_forward_cents
    )
