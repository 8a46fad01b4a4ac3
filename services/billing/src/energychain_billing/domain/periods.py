"""Billing periods: calendar months in the municipality's local time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class BillingPeriod:
    """One calendar month in a local zone, with its UTC bounds [start, end); a final period (the month a
    contract ended in) ends at ``until`` instead, the contract's end."""

    year: int
    month: int
    zone: ZoneInfo
    until: datetime | None = None

    @property
    def label(self) -> str:
        """``YYYY-MM``, the period's name on invoices."""
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start(self) -> datetime:
        """Local midnight of the first day, in UTC."""
        return datetime(self.year, self.month, 1, tzinfo=self.zone).astimezone(timezone.utc)

    @property
    def end(self) -> datetime:
        """Start of the next period (or the contract's end in a final period), in UTC."""
        return self.until if self.until is not None else self.next().start

    def ending_at(self, until: datetime) -> BillingPeriod:
        """This month cut at ``until`` (a contract's end inside it); the whole month when it ends at its end."""
        return self if until >= self.next().start else BillingPeriod(self.year, self.month, self.zone, until)

    def next(self) -> BillingPeriod:
        """The following calendar month."""
        if self.month == 12:
            return BillingPeriod(self.year + 1, 1, self.zone)
        return BillingPeriod(self.year, self.month + 1, self.zone)

    def closes_at(self, grace: timedelta) -> datetime:
        """When the simulated clock must reach for the period to be invoiced."""
        return self.end + grace


def period_of(instant: datetime, zone: ZoneInfo) -> BillingPeriod:
    """The billing period containing ``instant`` (an aware datetime)."""
    if instant.tzinfo is None:
        raise ValueError("instant must be timezone-aware")
    local = instant.astimezone(zone)
    return BillingPeriod(local.year, local.month, zone)


def parse_period(label: str, zone: ZoneInfo) -> BillingPeriod:
    """The period named ``YYYY-MM``."""
    year, month = label.split("-")
    return BillingPeriod(int(year), int(month), zone)
