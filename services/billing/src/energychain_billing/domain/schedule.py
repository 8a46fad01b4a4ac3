"""When billing acts on the simulated clock: period closes (end + grace) and due dates (close + due days)."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
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

    def periods_closing(self, after: datetime, upto: datetime, *, ends: datetime | None = None) -> list[BillingPeriod]:
        """Periods whose close lies in (after, upto], oldest first; for a contract that ``ends``, none after
        its final period, which ends then (and closes the grace after it). A final period whose close had
        passed before the end was known (a move-out recorded after the fact) is closing still: the invoice
        of a period is issued once, so asking again is harmless."""
        if upto <= after:
            return []
        if ends is not None and self.issued_at(final := self.final_period(ends)) <= after:
            return [final]
        period = period_of(after - self.grace, self.zone)
        closing = []
        while ends is None or period.start < ends:
            if ends is not None:
                period = period.ending_at(ends)
            if self.issued_at(period) > upto:
                break
            if self.issued_at(period) > after:
                closing.append(period)
            if period.until is not None:
                break
            period = period.next()
        return closing

    def final_period(self, ends: datetime) -> BillingPeriod:
        """The last period of a contract that ends at ``ends``."""
        return period_of(ends - timedelta(microseconds=1), self.zone).ending_at(ends)

    def final_boundaries(self, ends: datetime) -> tuple[datetime, datetime]:
        """When the final period of a contract ending at ``ends`` closes, and when its invoice is due."""
        final = self.final_period(ends)
        return self.issued_at(final), self.due_at(final)

    def next_boundary(self, after: datetime) -> datetime:
        """The first period close or due date strictly after ``after``."""
        period = period_of(after - self.grace, self.zone)
        while self.issued_at(period) <= after:
            period = period.next()
        close = self.issued_at(period)
        # A due date lies after ``after`` exactly when its period closes after ``after - due_days``.
        period = period_of(after - timedelta(days=self.due_days) - self.grace, self.zone)
        while self.due_at(period) <= after:
            period = period.next()
        return min(close, self.due_at(period))

    def crosses_boundary(self, after: datetime, upto: datetime) -> bool:
        """True when a period close or a due date lies in (after, upto]: the clock step must be applied exactly."""
        return after < upto and self.next_boundary(after) <= upto


class BoundaryWatch:
    """``crosses_boundary`` over several calendars, for a clock read every hour: each calendar's next boundary
    is computed once and kept while the clock stays before it (a watermark step is then one comparison).
    ``instants`` are boundaries of their own (the final closes and due dates of ended contracts)."""

    def __init__(self, schedules: Iterable[Schedule], instants: Iterable[datetime] = ()) -> None:
        self._windows = [[schedule, None, None] for schedule in schedules]  # [schedule, from, next boundary]
        self._instants = sorted(set(instants))

    def passed_by(self, at: datetime) -> bool:
        """Whether an instant lies at or before ``at`` (a contract ended after the fact: the clock had passed its
        final close when the end became known)."""
        return bool(self._instants) and self._instants[0] <= at

    def crosses_boundary(self, after: datetime, upto: datetime) -> bool:
        """True when any calendar has a period close or due date in (after, upto], or an instant lies there."""
        if upto <= after:
            return False
        if self._instants:
            first = bisect.bisect_right(self._instants, after)
            if first < len(self._instants) and self._instants[first] <= upto:
                return True
        for window in self._windows:
            schedule, start, boundary = window
            if start is None or not start <= after < boundary:
                boundary = schedule.next_boundary(after)
                window[1], window[2] = after, boundary
            if boundary <= upto:
                return True
        return False
