"""Billed energy from metered hours: what an invoice's energy lines and the usage views are computed by.

The repository returns the stored hours; these functions apply the tariff to them, so the
rule that bills (`Tariff.billed_wh`, `Tariff.contract_year`) is the one unit-tested.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

from energychain_billing.domain.periods import BillingPeriod
from energychain_billing.domain.tariff import Segment, Tariff

Granularity = Literal["hour", "day", "month"]
MEASURES = ("home_wh", "solar_wh", "grid_import_wh", "grid_export_wh", "battery_charged_wh", "battery_discharged_wh")


@dataclass(frozen=True, slots=True)
class MeteredHour:
    """One metered house-hour as billing stores it (integer Wh)."""

    interval_start: datetime
    home_wh: int
    solar_wh: int
    grid_import_wh: int
    grid_export_wh: int
    battery_charged_wh: int
    battery_discharged_wh: int


@dataclass(frozen=True, slots=True)
class UsageBucket:
    """Metered and billed energy of one hour, local day or local month starting at ``start`` (UTC)."""

    start: datetime
    home_wh: int
    solar_wh: int
    grid_import_wh: int
    grid_export_wh: int
    battery_charged_wh: int
    battery_discharged_wh: int
    billed_wh: int


def unbilled_energy_by_segment(
    tariff: Tariff, period: BillingPeriod, hours: Iterable[MeteredHour]
) -> tuple[dict[Segment, int], dict[Segment, int]]:
    """Billed Wh by segment (contract year and piece of the terms) of not-yet-billed hours before the period's
    end: (the period's, earlier ones').

    Earlier hours are readings that arrived after their own period was invoiced: the
    invoice bills them as late adjustments, each at its own segment's rate. A segment
    with hours but nothing billed is kept with 0 Wh (the hours were metered).
    """
    cuts = tariff.anniversaries_before(period.end)
    current: dict[Segment, int] = {}
    late: dict[Segment, int] = {}
    for hour in hours:
        year = bisect_right(cuts, hour.interval_start) + 1  # equals tariff.contract_year(hour.interval_start)
        segment = Segment(year, tariff.terms_at(hour.interval_start))
        target = current if hour.interval_start >= period.start else late
        target[segment] = target.get(segment, 0) + tariff.billed_wh(
            home_wh=hour.home_wh, grid_import_wh=hour.grid_import_wh, terms=segment.terms)
    return current, late


def _bucket_start(instant: datetime, tariff: Tariff, granularity: Granularity) -> datetime:
    if granularity == "hour":
        return instant
    local = instant.astimezone(tariff.zone)
    day = 1 if granularity == "month" else local.day
    return datetime(local.year, local.month, day, tzinfo=tariff.zone).astimezone(timezone.utc)


def usage_buckets(tariff: Tariff, hours: Sequence[MeteredHour], granularity: Granularity) -> list[UsageBucket]:
    """Hours (in time order) summed by hour, local day or local month, with the energy the tariff bills."""
    sums: dict[datetime, list[int]] = {}
    for hour in hours:
        key = _bucket_start(hour.interval_start, tariff, granularity)
        totals = sums.setdefault(key, [0] * (len(MEASURES) + 1))
        for index, name in enumerate(MEASURES):
            totals[index] += getattr(hour, name)
        totals[-1] += tariff.billed_wh(home_wh=hour.home_wh, grid_import_wh=hour.grid_import_wh,
                                       terms=tariff.terms_at(hour.interval_start))
    return [UsageBucket(start, *totals) for start, totals in sorted(sums.items())]
