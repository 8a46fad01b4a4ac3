"""Validation of meter export rows into hourly readings or rejections with a reason code."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from energychain_meter_ingest.domain.energy import EnergyValueError, cached_kwh_text_to_wh
from energychain_meter_ingest.domain.localtime import (
    UTC,
    LocalTimeError,
    is_ambiguous,
    is_nonexistent,
    parse_wall_time,
    wall_to_utc,
)

HEADER = (
    "DATE",
    "BATTERY DISCHARGED (kWh)",
    "BATTERY CHARGED (kWh)",
    "SOLAR PRODUCTION (kWh)",
    "HOME CONSUMPTION (kWh)",
    "GRID EXPORTED (kWh)",
    "GRID IMPORTED (kWh)",
    "BATTERY LEVEL (%)",
)
ENERGY_COLUMNS = HEADER[1:7]
HOUR_S = 3600


class NotAMeterExport(ValueError):
    """The file as a whole is not a meter export (empty, binary, wrong header); nothing is read from it."""


def check_header(fields: list[str]) -> None:
    """Accept exactly the export's columns (surrounding blanks and a byte-order mark tolerated)."""
    cleaned = [f.strip().lstrip("\ufeff").strip() for f in fields]
    if tuple(cleaned) != HEADER:
        raise NotAMeterExport(f"header is {fields!r}, expected {list(HEADER)!r}")


@dataclass(frozen=True, slots=True)
class ValidationPolicy:
    """Configurable limits: what counts as physically absurd and as unbalanced."""

    max_wh_per_hour: int = 50_000
    imbalance_tolerance_wh: int = 30

    def __post_init__(self) -> None:
        if self.max_wh_per_hour <= 0 or self.imbalance_tolerance_wh < 0:
            raise ValueError("max_wh_per_hour must be > 0 and imbalance_tolerance_wh >= 0")


@dataclass(frozen=True, slots=True)
class Reading:
    """One house-hour of metered energy in integer Wh; ``hour`` is the UTC interval start in epoch seconds."""

    house_id: str
    hour: int
    battery_discharged_wh: int
    battery_charged_wh: int
    solar_wh: int
    home_wh: int
    grid_export_wh: int
    grid_import_wh: int
    battery_level_pct: int | None
    imbalance_wh: int
    quality_flags: tuple[str, ...]
    source_file: str
    source_line: int

    @property
    def interval_start(self) -> datetime:
        """UTC start of the metered hour."""
        return datetime.fromtimestamp(self.hour, UTC)

    @property
    def values(self) -> tuple:
        """The measured values: what decides exact versus conflicting duplicates."""
        return (
            self.battery_discharged_wh,
            self.battery_charged_wh,
            self.solar_wh,
            self.home_wh,
            self.grid_export_wh,
            self.grid_import_wh,
            self.battery_level_pct,
        )


@dataclass(frozen=True, slots=True)
class Rejection:
    """A row that failed validation: reason code, detail, and where it came from."""

    house_id: str | None
    reason: str
    detail: str
    source_file: str
    source_line: int
    raw: str
    hour: int | None = None


def imbalance_of(*, solar: int, discharged: int, imported: int, home: int, charged: int, exported: int) -> int:
    """Sources minus sinks of one hour: 0 when the hour balances."""
    return (solar + discharged + imported) - (home + charged + exported)


@dataclass(slots=True)
class _ZoneCache:
    """Per-zone memo of wall-time text -> (kind, utc epoch fold 0, utc epoch fold 1)."""

    zone: ZoneInfo
    entries: dict[str, tuple[str, int, int]] = field(default_factory=dict)

    def lookup(self, text: str) -> tuple[str, int, int]:
        hit = self.entries.get(text)
        if hit is not None:
            return hit
        wall = parse_wall_time(text)  # raises LocalTimeError: not memoised, rare
        if is_nonexistent(wall, self.zone):
            entry = ("nonexistent", 0, 0)
        elif is_ambiguous(wall, self.zone):
            entry = (
                "ambiguous",
                int(wall_to_utc(wall, self.zone, fold=0).timestamp()),
                int(wall_to_utc(wall, self.zone, fold=1).timestamp()),
            )
        else:
            epoch = int(wall_to_utc(wall, self.zone, fold=0).timestamp())
            entry = ("plain", epoch, epoch)
        if len(self.entries) > 200_000:  # bound memory on very long replays
            self.entries.clear()
        self.entries[text] = entry
        return entry


_ZONE_CACHES: dict[str, _ZoneCache] = {}


def _zone_cache(zone: ZoneInfo) -> _ZoneCache:
    cache = _ZONE_CACHES.get(zone.key)
    if cache is None:
        cache = _ZONE_CACHES[zone.key] = _ZoneCache(zone)
    return cache


class MeterFileParser:
    """Validates one house's export row by row; keeps only a small window of recent hours.

    ``feed`` returns a Reading to publish, a Rejection to dead-letter, or None for an
    exact duplicate of a reading already returned (published once).
    """

    RECENT_HOURS = 48

    def __init__(self, *, house_id: str, zone: ZoneInfo, policy: ValidationPolicy, source_file: str) -> None:
        self.house_id = house_id
        self.policy = policy
        self.source_file = source_file
        self._zone = _zone_cache(zone)
        self._last_ambiguous_text: str | None = None
        self._last_hour: int | None = None
        self._recent: OrderedDict[int, tuple] = OrderedDict()

    def _reject(self, line: int, fields: list[str], reason: str, detail: str, hour: int | None = None) -> Rejection:
        return Rejection(
            house_id=self.house_id,
            reason=reason,
            detail=detail,
            source_file=self.source_file,
            source_line=line,
            raw=",".join(fields),
            hour=hour,
        )

    def _hour_of(self, text: str) -> int:
        kind, fold0, fold1 = self._zone.lookup(text)
        if kind == "plain":
            return fold0
        if kind == "nonexistent":
            raise LocalTimeError(
                "nonexistent_local_time",
                f"{text} does not exist in {self._zone.zone.key} (clocks sprang forward)",
            )
        # Fall-back hour: its first sighting is daylight time, the next one standard time.
        hour = fold1 if text == self._last_ambiguous_text else fold0
        self._last_ambiguous_text = text
        return hour

    def feed(self, line: int, fields: list[str]) -> Reading | Rejection | None:
        """Validate one data row (``line`` is its 1-based line number in the file)."""
        if len(fields) != len(HEADER):
            if len(fields) < len(HEADER):
                return self._reject(line, fields, "missing_fields", f"{len(fields)} of {len(HEADER)} columns")
            return self._reject(line, fields, "extra_fields", f"{len(fields)} columns, expected {len(HEADER)}")
        try:
            hour = self._hour_of(fields[0])
        except LocalTimeError as error:
            return self._reject(line, fields, error.reason, str(error))
        values = []
        limit = self.policy.max_wh_per_hour
        for name, text in zip(ENERGY_COLUMNS, fields[1:7]):
            try:
                wh = cached_kwh_text_to_wh(text)
            except EnergyValueError as error:
                return self._reject(line, fields, error.reason, f"{name}: {error}", hour)
            if wh < 0 or wh > limit:
                if wh < 0:
                    return self._reject(line, fields, "negative_value", f"{name}: {text} kWh is negative", hour)
                return self._reject(
                    line, fields, "absurd_value", f"{name}: {wh} Wh exceeds {limit} Wh in one hour", hour
                )
            values.append(wh)
        flags: list[str] = []
        level_text = fields[7].strip()
        if not level_text:
            level = None
            flags.append("no_battery_level")
        else:
            try:
                level = int(level_text)
            except ValueError:
                level = _fractional_level(level_text)
                if level is None:
                    return self._reject(
                        line, fields, "unparsable_number", f"BATTERY LEVEL (%): {level_text!r}", hour
                    )
                flags.append("battery_level_rounded")
            if not 0 <= level <= 100:
                return self._reject(
                    line, fields, "battery_level_out_of_range", f"BATTERY LEVEL (%): {level_text} not in 0..100", hour
                )
        discharged, charged, solar, home, exported, imported = values
        measured = (discharged, charged, solar, home, exported, imported, level)
        if self._last_hour is not None and hour <= self._last_hour:
            previous = self._recent.get(hour)
            if previous is None:
                return self._reject(line, fields, "out_of_order", "hour precedes a reading already read", hour)
            if previous == measured:
                return None
            return self._reject(
                line, fields, "conflicting_duplicate", "same hour read before with different values", hour
            )
        imbalance = imbalance_of(
            solar=solar, discharged=discharged, imported=imported, home=home, charged=charged, exported=exported
        )
        if abs(imbalance) > self.policy.imbalance_tolerance_wh:
            flags.append("unbalanced")
        self._last_hour = hour
        self._recent[hour] = measured
        if len(self._recent) > self.RECENT_HOURS:
            self._recent.popitem(last=False)
        return Reading(
            house_id=self.house_id,
            hour=hour,
            battery_discharged_wh=discharged,
            battery_charged_wh=charged,
            solar_wh=solar,
            home_wh=home,
            grid_export_wh=exported,
            grid_import_wh=imported,
            battery_level_pct=level,
            imbalance_wh=imbalance,
            quality_flags=tuple(flags),
            source_file=self.source_file,
            source_line=line,
        )


def _fractional_level(text: str) -> int | None:
    """A fractional percentage rounded half-up to a whole percent (the event carries whole percents)."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def unknown_house_rejection(*, house_id: str, source_file: str, line: int, fields: list[str]) -> Rejection:
    """A row of a file mapped to a house the registry does not know."""
    return Rejection(
        house_id=house_id,
        reason="unknown_house",
        detail=f"house {house_id!r} is not in the registry",
        source_file=source_file,
        source_line=line,
        raw=",".join(fields),
    )


def out_of_contract_rejection(*, reading: Reading, fields: list[str], ended: int) -> Rejection:
    """A reading of a house whose contract ended before its hour (the house moved out)."""
    return Rejection(
        house_id=reading.house_id,
        reason="out_of_contract",
        detail=f"house {reading.house_id!r}'s contract ended at {hour_start(ended).isoformat()}",
        source_file=reading.source_file,
        source_line=reading.source_line,
        raw=",".join(fields),
        hour=reading.hour,
    )


def hour_start(epoch: int) -> datetime:
    """UTC datetime of an epoch-second hour."""
    return datetime.fromtimestamp(epoch, UTC)


ONE_HOUR = timedelta(hours=1)
