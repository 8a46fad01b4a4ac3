"""Local wall-clock hours of a meter export to UTC, including the daylight-saving artefacts.

The export writes local time without an offset: the spring-forward hour is
absent and the fall-back hour appears twice. The first occurrence of an
ambiguous wall time is the daylight hour (fold=0), a later one the standard
hour (fold=1).
"""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

UTC = timezone.utc


class LocalTimeError(ValueError):
    """A DATE that is not a usable local hour; ``reason`` is the rejection code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def parse_wall_time(text: str) -> datetime:
    """Parse the export's ``YYYY-MM-DDTHH:MM:SS`` local time (naive, on the hour)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise LocalTimeError("unparsable_time", f"not an ISO date-time: {text!r}") from None
    if value.tzinfo is not None:
        raise LocalTimeError("unparsable_time", f"expected local time without offset: {text!r}")
    if value.minute or value.second or value.microsecond:
        raise LocalTimeError("not_on_the_hour", f"hourly readings start on the hour: {text!r}")
    return value


def is_nonexistent(wall: datetime, zone: ZoneInfo) -> bool:
    """True for a wall time skipped by a spring-forward transition."""
    aware = wall.replace(tzinfo=zone)
    return aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall


def is_ambiguous(wall: datetime, zone: ZoneInfo) -> bool:
    """True for a wall time that occurs twice (fall-back transition)."""
    return wall.replace(tzinfo=zone, fold=0).utcoffset() != wall.replace(tzinfo=zone, fold=1).utcoffset()


def wall_to_utc(wall: datetime, zone: ZoneInfo, *, fold: int) -> datetime:
    """The UTC instant of a local wall time, rejecting times the zone skips."""
    if is_nonexistent(wall, zone):
        raise LocalTimeError(
            "nonexistent_local_time", f"{wall.isoformat()} does not exist in {zone.key} (clocks sprang forward)"
        )
    return wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
