"""The PPA tariff: contract years, escalated rates, billed energy, rounding to the cent.

Decisions (see README):
- Contract year n of an hour is decided by the hour's interval start, by the rule of
  `energychain_shared.rules` (the market's too): year n begins at local midnight
  (municipality zone) of the n-1th anniversary of the contract start date; hours before
  the start date are billed in year 1; a 29 February start has its anniversary on
  28 February in common years.
- The escalated rate is rate x (1 + escalator)^(n-1), rounded half-up to 6 decimal
  places (the precision of rates on invoices, in micro-dollars per kWh; `rules.escalated_rate`).
- A month that spans an anniversary is billed per hour at that hour's rate: one
  energy line per contract year, each rounded on its own.
- A contract amended from a date (local midnight) bills the hours from then at the amended
  base rate, escalator and basis, escalated by the same contract years: a period that spans
  the date has one energy line per (contract year, terms) segment, each rounded on its own.
- Amounts round half-up to the cent per line; ties round away from zero for negatives.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo

from energychain_shared.rules import contract_year_at, escalated_rate, year_start

BillingBasis = Literal["delivered", "all_consumption"]
WH_PER_KWH = Decimal(1000)


class Segment(NamedTuple):
    """Hours billed at one rate: a contract year under one piece of the terms (0: as enrolled, n: the nth
    amendment)."""

    year: int
    terms: int = 0


@dataclass(frozen=True)
class Amendment:
    """Terms in force from ``starts_at`` (UTC; local midnight of ``effective_date``)."""

    effective_date: date
    starts_at: datetime
    rate_usd_per_kwh: Decimal
    escalator_percent: Decimal
    basis: BillingBasis


@dataclass(frozen=True)
class Tariff:
    """The terms of one resident's PPA contract that pricing needs, with its amendments in date order."""

    rate_usd_per_kwh: Decimal
    escalator_percent: Decimal
    start_date: date
    zone: ZoneInfo
    basis: BillingBasis = "delivered"
    amendments: tuple[Amendment, ...] = ()

    def terms_at(self, instant: datetime) -> int:
        """Which piece of the terms applies to the hour starting at ``instant`` (0: as enrolled)."""
        if not self.amendments:
            return 0
        return bisect_right([a.starts_at for a in self.amendments], instant)

    def segment_at(self, instant: datetime) -> Segment:
        """The contract year and piece of the terms of the hour starting at ``instant``."""
        return Segment(self.contract_year(instant), self.terms_at(instant))

    def basis_of(self, terms: int) -> BillingBasis:
        """The billing basis of a piece of the terms."""
        return self.basis if terms == 0 else self.amendments[terms - 1].basis

    def rate_of(self, segment: Segment) -> Decimal:
        """The escalated rate of a segment: its piece's base rate and escalator, its contract year."""
        if segment.terms == 0:
            return self.rate_for_year(segment.year)
        amendment = self.amendments[segment.terms - 1]
        return escalated_rate(amendment.rate_usd_per_kwh, amendment.escalator_percent, segment.year)

    def describe(self, segment: Segment) -> str:
        """How an invoice line names a segment: its contract year, and the amendment it bills under."""
        if segment.terms == 0:
            return f"contract year {segment.year}"
        return f"contract year {segment.year}, terms from {self.amendments[segment.terms - 1].effective_date}"

    def anniversary(self, years: int) -> datetime:
        """Start (UTC) of contract year ``years + 1``: local midnight of the anniversary."""
        return year_start(self.start_date, years + 1, self.zone)

    def contract_year(self, instant: datetime) -> int:
        """Contract year (1-based) of the hour starting at ``instant``."""
        return contract_year_at(self.start_date, instant, self.zone)

    def anniversaries_before(self, end: datetime) -> list[datetime]:
        """The starts (UTC) of contract years 2, 3, ... that lie before ``end``, in order."""
        cuts = []
        while (cut := self.anniversary(len(cuts) + 1)) < end:
            cuts.append(cut)
        return cuts

    def rate_for_year(self, year: int) -> Decimal:
        """The escalated rate of contract year ``year`` under the terms as enrolled, half-up to 6 decimals."""
        return escalated_rate(self.rate_usd_per_kwh, self.escalator_percent, year)

    def rate_at(self, instant: datetime) -> Decimal:
        """The escalated rate applying to the hour starting at ``instant``."""
        return self.rate_of(self.segment_at(instant))

    def billed_wh(self, *, home_wh: int, grid_import_wh: int, terms: int = 0) -> int:
        """Energy billed for one hour under the basis of a piece of the terms (as enrolled by default)."""
        return billed_wh(home_wh=home_wh, grid_import_wh=grid_import_wh, basis=self.basis_of(terms))


def billed_wh(*, home_wh: int, grid_import_wh: int, basis: BillingBasis) -> int:
    """Energy billed for one hour: delivered = max(0, home - grid import); all_consumption = home."""
    if basis == "delivered":
        return max(0, home_wh - grid_import_wh)
    if basis == "all_consumption":
        return home_wh
    raise ValueError(f"unknown billing basis {basis!r}")


def round_cents(amount_usd: Decimal) -> int:
    """Dollars to whole cents, half-up (ties away from zero)."""
    return int((amount_usd * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def energy_amount_cents(energy_wh: int, rate_usd_per_kwh: Decimal) -> int:
    """Price of ``energy_wh`` at ``rate_usd_per_kwh``, rounded half-up to the cent."""
    return round_cents(Decimal(energy_wh) / WH_PER_KWH * rate_usd_per_kwh)
