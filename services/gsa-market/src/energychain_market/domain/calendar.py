"""Local days, their UTC hours, gate closures and contract years."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

UTC = timezone.utc
HOUR = timedelta(hours=1)


def local_midnight_utc(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant at which local ``day`` starts in ``zone``."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def hours_of_local_day(day: date, zone: ZoneInfo) -> tuple[datetime, ...]:
    """UTC start of every hour of local ``day`` (23, 24 or 25 hours across daylight-saving changes)."""
    start = local_midnight_utc(day, zone)
    end = local_midnight_utc(day + timedelta(days=1), zone)
    hours = []
    current = start
    while current < end:
        hours.append(current)
        current += HOUR
    return tuple(hours)


def local_date(instant: datetime, zone: ZoneInfo) -> date:
    """The local calendar date of an aware instant."""
    if instant.tzinfo is None:
        raise ValueError("instant must be timezone-aware")
    return instant.astimezone(zone).date()


def gate_closure(delivery_day: date, zone: ZoneInfo, *, hours_before: int = 0) -> datetime:
    """When offers for ``delivery_day`` close and the day clears: local start of the day minus ``hours_before``."""
    return local_midnight_utc(delivery_day, zone) - timedelta(hours=hours_before)


def day_ahead_publication(delivery_day: date, zone: ZoneInfo, *, publish_hour: int = 12) -> datetime:
    """When day D's prices are published day-ahead: ``publish_hour`` local time on D-1."""
    before = delivery_day - timedelta(days=1)
    return datetime.combine(before, time(publish_hour), tzinfo=zone).astimezone(UTC)
