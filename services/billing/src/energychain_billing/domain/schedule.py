"""When billing acts on the simulated clock: period closes (end + grace) and due dates (close + due days)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from energychain_billing.domain.periods import BillingPeriod, period_of


@dataclass(frozen=True)
class Schedule:
    """The billing calendar of one municipality."""

    zone: ZoneInfo
    grace: timedelta
    due_days: int

    def issued_at(self, period: BillingPeriod) -> datetime:
        """An invoice is issued the moment its period closes: period end plus the grace for late readings."""
        return period.closes_at(self.grace)

    def due_at(self, period: BillingPeriod) -> datetime:
        """Payment is due ``due_days`` after issue."""
        return self.issued_at(period) + timedelta(days=self.due_days)

    def periods_closing(self, after: datetime, upto: datetime) -> list[BillingPeriod]:
        """Periods whose close lies in (after, upto], oldest first."""
        if upto <= after:
            return []
        period = period_of(after - self.grace, self.zone)
        closing = []
        while self.issued_at(period) <= upto:
            if self.issued_at(period) > after:
                closing.append(period)
            period = period.next()
        return closing

    def crosses_boundary(self, after: datetime, upto: datetime) -> bool:
        """True when a period close or a due date lies in (after, upto]: the clock step must be applied exactly."""
        if upto <= after:
            return False
        if self.periods_closing(after, upto):
            return True
        # A due date lies in (after, upto] exactly when its period closed due_days earlier.
        shift = timedelta(days=self.due_days)
        return bool(self.periods_closing(after - shift, upto - shift))
