"""Wholesale prices: a reproducible duck-curve model, and a parser for a real hourly price CSV.

The model (all $/MWh, Decimal, rounded half-up to the cent), per local hour h of day d
in the market's time zone:

    price = level(month) x shape(h) x evening(month, h) x day_factor(d) x hour_noise(d, h)
            + spring_glut(month, h)                 (negative midday offset in Mar-May)
    replaced by a spike price on spike days in one evening hour

- level: a monthly base (winter ~$45-55, spring ~$30, late summer ~$60);
- shape: the duck curve (morning ramp, deep solar trough at noon, evening ramp and peak at 19:00);
- evening: summer (Jun-Sep) evening hours 17-21 x2.2, shoulder months (May, Oct) x1.4;
- day_factor 0.90-1.10 and hour_noise 0.95-1.05;
- spikes: on 10 % of summer days and 3 % of other days one hour in 17-20 jumps to $500-$2,000.

Every random draw comes from ``random.Random(f"{seed}:{date}")`` integers only, so a day's
prices depend only on (seed, date): any day can be computed alone and every run agrees.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from energychain_market.domain.calendar import hours_of_local_day

UTC = timezone.utc
CENT = Decimal("0.01")
PRICE_CSV_HEADER = ("hour_start_utc", "price_usd_per_mwh")

MONTHLY_LEVEL = {
    1: Decimal(45), 2: Decimal(42), 3: Decimal(35), 4: Decimal(30), 5: Decimal(30), 6: Decimal(40),
    7: Decimal(55), 8: Decimal(60), 9: Decimal(58), 10: Decimal(48), 11: Decimal(50), 12: Decimal(55),
}
DUCK_SHAPE = tuple(
    Decimal(x)
    for x in (
        "1.00", "0.95", "0.92", "0.90", "0.92", "1.00", "1.15", "1.20", "0.95", "0.70", "0.50", "0.40",
        "0.35", "0.35", "0.40", "0.55", "0.85", "1.40", "1.90", "2.10", "1.80", "1.45", "1.20", "1.05",
    )
)
EVENING_HOURS = range(17, 22)
SUMMER_MONTHS = (6, 7, 8, 9)
SHOULDER_MONTHS = (5, 10)
SPRING_GLUT_MONTHS = (3, 4, 5)
SPRING_GLUT_HOURS = range(10, 16)
SPRING_GLUT_OFFSET = Decimal(-25)
SPIKE_PERCENT_SUMMER = 10
SPIKE_PERCENT_OTHER = 3
SPIKE_HOURS = (17, 18, 19, 20)
SPIKE_MIN, SPIKE_MAX = 500, 2000
MAX_HOURS_PER_DAY = 25


def _evening_factor(month: int, local_hour: int) -> Decimal:
    if local_hour not in EVENING_HOURS:
        return Decimal(1)
    if month in SUMMER_MONTHS:
        return Decimal("2.2")
    if month in SHOULDER_MONTHS:
        return Decimal("1.4")
    return Decimal(1)


@dataclass(frozen=True)
class DuckCurvePriceModel:
    """The documented, seeded price model; ``prices_for_day`` is a pure function of (seed, day)."""

    seed: int = 2021
    timezone_name: str = "America/Los_Angeles"

    @property
    def zone(self) -> ZoneInfo:
        """The market's time zone: the duck curve follows its local hours."""
        return ZoneInfo(self.timezone_name)

    def prices_for_day(self, day: date) -> dict[datetime, Decimal]:
        """Every hour of local ``day`` (UTC hour start) with its price in $/MWh."""
        rng = random.Random(f"{self.seed}:{day.isoformat()}")
        day_factor = Decimal(100 + rng.randint(-10, 10)) / 100
        spike_percent = SPIKE_PERCENT_SUMMER if day.month in SUMMER_MONTHS else SPIKE_PERCENT_OTHER
        spike = rng.randint(1, 100) <= spike_percent
        spike_hour = SPIKE_HOURS[rng.randint(0, len(SPIKE_HOURS) - 1)]
        spike_price = Decimal(rng.randint(SPIKE_MIN, SPIKE_MAX))
        noise = [Decimal(100 + rng.randint(-5, 5)) / 100 for _ in range(MAX_HOURS_PER_DAY)]
        zone = self.zone
        prices: dict[datetime, Decimal] = {}
        spiked = False
        for index, hour in enumerate(hours_of_local_day(day, zone)):
            local_hour = hour.astimezone(zone).hour
            if spike and local_hour == spike_hour and not spiked:
                spiked = True  # one spike hour even on a fall-back day with a repeated hour
                prices[hour] = spike_price.quantize(CENT)
                continue
            price = (
                MONTHLY_LEVEL[day.month]
                * DUCK_SHAPE[local_hour]
                * _evening_factor(day.month, local_hour)
                * day_factor
                * noise[index]
            )
            if day.month in SPRING_GLUT_MONTHS and local_hour in SPRING_GLUT_HOURS:
                price += SPRING_GLUT_OFFSET
            prices[hour] = price.quantize(CENT, rounding=ROUND_HALF_UP)
        return prices


class PriceFileError(ValueError):
    """A price CSV that cannot be used; the message names the line and the problem."""


def parse_price_csv(lines: Iterable[str], *, source: str = "<prices>") -> dict[datetime, Decimal]:
    """Parse ``hour_start_utc,price_usd_per_mwh`` rows (ISO hour start with offset, Decimal $/MWh)."""
    prices: dict[datetime, Decimal] = {}
    iterator = iter(lines)
    header = next(iterator, None)
    if header is None or tuple(h.strip().lower() for h in header.strip().split(",")) != PRICE_CSV_HEADER:
        raise PriceFileError(f"{source}:1: header must be {','.join(PRICE_CSV_HEADER)}, got {header!r}")
    for number, line in enumerate(iterator, start=2):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.strip().split(",")]
        if len(parts) != 2:
            raise PriceFileError(f"{source}:{number}: expected 2 columns, got {len(parts)}")
        try:
            hour = datetime.fromisoformat(parts[0].replace("Z", "+00:00"))
        except ValueError:
            raise PriceFileError(f"{source}:{number}: hour_start_utc is not ISO 8601: {parts[0]!r}") from None
        if hour.tzinfo is None:
            raise PriceFileError(f"{source}:{number}: hour_start_utc needs an offset (Z or +00:00): {parts[0]!r}")
        hour = hour.astimezone(UTC)
        if hour.minute or hour.second or hour.microsecond:
            raise PriceFileError(f"{source}:{number}: hour_start_utc is not on the hour: {parts[0]!r}")
        try:
            price = Decimal(parts[1])
        except InvalidOperation:
            raise PriceFileError(f"{source}:{number}: price_usd_per_mwh is not a number: {parts[1]!r}") from None
        if not price.is_finite():
            raise PriceFileError(f"{source}:{number}: price_usd_per_mwh must be finite: {parts[1]!r}")
        if hour in prices:
            raise PriceFileError(f"{source}:{number}: duplicate hour {hour.isoformat()}")
        prices[hour] = price.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    return prices


@dataclass(frozen=True)
class TablePriceSeries:
    """Prices from a file: hours the file lacks have no price (offers cannot be placed there)."""

    table: dict[datetime, Decimal]
    timezone_name: str = "America/Los_Angeles"

    def prices_for_day(self, day: date) -> dict[datetime, Decimal]:
        """The file's prices for the hours of local ``day`` that it has."""
        return {h: self.table[h] for h in hours_of_local_day(day, ZoneInfo(self.timezone_name)) if h in self.table}


def prices_for_hours(source, hours: Iterable[datetime], zone: ZoneInfo) -> dict[datetime, Decimal]:
    """Prices of arbitrary UTC hours from a day-based source (``prices_for_day``) in the market's zone."""
    wanted = sorted(set(hours))
    result: dict[datetime, Decimal] = {}
    for day in sorted({h.astimezone(zone).date() for h in wanted}):
        result.update(source.prices_for_day(day))
    return {h: result[h] for h in wanted if h in result}
