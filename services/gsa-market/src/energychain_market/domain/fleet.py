"""The fleet stream's rules: event-time windows per municipality, and each meter's data quality.

Pure: the faust agent (`energychain_market.fleet`) feeds one partition of meter.readings
through a `FleetPartition`, in offset order, and persists what `drain()` returns in its
tables. Times are whole UTC hours in epoch seconds; a reading's hour is its interval start.

- Windows: the UTC hour of the reading, and the municipality's local calendar day (23 or 25
  hours on daylight-saving days). Faust's own tumbling windows are aligned to the epoch in
  UTC, so the local day is computed here and the tables are keyed by it.
- A window stays open until the partition's watermark passes its end plus the grace for late
  readings (billing's rule for closing a period); its last update is then marked final.
  A reading whose hour window has closed is too late and counts nowhere; a reading of an
  hour already counted for its house (a redelivery) changes nothing.
- Alerts, per house: ``silent_meter`` when the watermark is more than ``silent_hours`` past
  its last reading (cleared by its next reading); ``missing_hours`` when it reports after a
  hole (cleared when every missing hour has arrived); ``repeated_imbalance`` after
  ``imbalance_streak`` unbalanced hours in a row (cleared by a balanced hour).
"""

from __future__ import annotations

import uuid
from bisect import bisect_left, insort
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Callable, Iterable
from zoneinfo import ZoneInfo

UTC = timezone.utc
HOUR = 3600
WINDOW_FIELDS = (
    "readings", "houses_reporting", "readings_unbalanced", "home_wh", "solar_wh", "grid_import_wh",
    "grid_export_wh", "battery_charged_wh", "battery_discharged_wh", "reserve_above_contract_wh",
)
ENERGY_FIELDS = ("home_wh", "solar_wh", "grid_import_wh", "grid_export_wh", "battery_charged_wh",
                 "battery_discharged_wh")
ALERT_NAMESPACE = uuid.UUID("6f1c2a8e-3d1b-5b7a-9c4e-2e8f0a6d4b11")  # the events' id namespace


@dataclass(frozen=True)
class FleetRules:
    """How long a window waits for late readings, and when a meter's data is a problem."""

    grace_hours: int = 48
    silent_hours: int = 6
    imbalance_streak: int = 3

    def __post_init__(self) -> None:
        if self.grace_hours < 0 or self.silent_hours < 1 or self.imbalance_streak < 1:
            raise ValueError("grace_hours must be >= 0, silent_hours and imbalance_streak >= 1")


@dataclass(frozen=True)
class HouseTerms:
    """What the fleet needs of a house's registry entry; ``moves`` are (epoch seconds of the move's local
    midnight, municipality) in time order: the house counts in the municipality of each reading's hour."""

    municipality_id: str
    zone: ZoneInfo
    battery_wh: int
    reserve_wh: int
    moves: tuple[tuple[int, str], ...] = ()

    def municipality_at(self, hour: int) -> str:
        """The municipality the house belongs to for the hour starting at ``hour`` (epoch seconds)."""
        current = self.municipality_id
        for since, municipality_id in self.moves:
            if hour < since:
                break
            current = municipality_id
        return current


@dataclass(frozen=True)
class Reading:
    """One metered hour of one house (integer Wh)."""

    house_id: str
    hour: int  # interval start, epoch seconds, a whole UTC hour
    home_wh: int
    solar_wh: int
    grid_import_wh: int
    grid_export_wh: int
    battery_charged_wh: int
    battery_discharged_wh: int
    battery_level_pct: int | None
    unbalanced: bool


def epoch(moment: datetime) -> int:
    """Seconds since the epoch of an aware datetime."""
    return int(moment.timestamp())


def instant(seconds: int) -> datetime:
    """The aware UTC datetime of epoch seconds."""
    return datetime.fromtimestamp(seconds, UTC)


def hour_window(hour: int) -> tuple[int, int]:
    """The UTC hour window [start, end) of an instant."""
    start = hour - hour % HOUR
    return start, start + HOUR


@lru_cache(maxsize=8192)
def local_day_window(hour: int, zone: ZoneInfo) -> tuple[int, int, date]:
    """The local calendar day [start, end) of ``zone`` that an instant falls in (DST days are 23 or 25 hours)."""
    day = instant(hour).astimezone(zone).date()
    start = datetime.combine(day, time(0), zone)
    end = datetime.combine(day + timedelta(days=1), time(0), zone)
    return epoch(start), epoch(end), day


def reserve_above_contract(level_pct: int | None, terms: HouseTerms) -> int:
    """Battery energy above the contract reserve at a reading (0 when unknown or below)."""
    if level_pct is None:
        return 0
    return max(0, terms.battery_wh * level_pct // 100 - terms.reserve_wh)


def alert_id(house_id: str, kind: str, since: int) -> str:
    """The deterministic id of a house's alert of ``kind`` starting at ``since``: the events'
    ``deterministic_id("FleetAlert", house, kind, since)``, here without pydantic (a unit test ties the two)."""
    return str(uuid.uuid5(ALERT_NAMESPACE, "|".join(["FleetAlert", house_id, kind, instant(since).isoformat()])))


def window_key(municipality_id: str, kind: str, start: int, partition: int) -> str:
    return f"{municipality_id}|{kind}|{start}|{partition}"


@dataclass
class Window:
    """The running totals of one window from one partition; ``version`` counts the updates sent."""

    municipality_id: str
    kind: str  # "hour" | "day"
    start: int
    end: int
    local_date: str | None
    partition: int
    totals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(WINDOW_FIELDS, 0))
    version: int = 0

    @property
    def key(self) -> str:
        return window_key(self.municipality_id, self.kind, self.start, self.partition)

    def to_json(self) -> dict:
        return {"m": self.municipality_id, "k": self.kind, "s": self.start, "e": self.end, "d": self.local_date,
                "p": self.partition, "t": self.totals, "v": self.version}

    @classmethod
    def from_json(cls, data: dict) -> Window:
        return cls(data["m"], data["k"], data["s"], data["e"], data["d"], data["p"], dict(data["t"]), data["v"])


@dataclass
class HouseState:
    """What the stream remembers of one house between its readings."""

    house_id: str
    partition: int
    last: int | None = None  # the latest hour read
    counted: list[int] = field(default_factory=list)  # hours counted, still inside an open window
    streak: int = 0  # unbalanced hours in a row, in hour order
    streak_since: int | None = None
    gaps: list[list[int]] = field(default_factory=list)  # [first, last] missing hours not yet arrived
    alerts: dict[str, int] = field(default_factory=dict)  # open alert kind -> since
    day_reserve: dict[str, list[int]] = field(default_factory=dict)  # day start -> [hour, reserve]

    def to_json(self) -> dict:
        return {"h": self.house_id, "p": self.partition, "l": self.last, "c": self.counted, "s": self.streak,
                "ss": self.streak_since, "g": self.gaps, "a": self.alerts, "r": self.day_reserve}

    @classmethod
    def from_json(cls, data: dict) -> HouseState:
        return cls(data["h"], data["p"], data["l"], list(data["c"]), data["s"], data["ss"],
                   [list(g) for g in data["g"]], dict(data["a"]), {k: list(v) for k, v in data["r"].items()})

    def missing_count(self) -> int:
        return sum(last - first + HOUR for first, last in self.gaps) // HOUR


@dataclass(frozen=True)
class AlertChange:
    """An alert raised or cleared (the agent publishes it as FleetAlertRaised / FleetAlertCleared)."""

    raised: bool
    alert_id: str
    kind: str
    house_id: str
    municipality_id: str | None
    at: int  # raised: since; cleared: the event time that ended it
    detail: str = ""


@dataclass
class Drained:
    """What a partition changed since the last drain: table writes and what to publish."""

    houses: dict[str, dict]
    open_windows: dict[str, dict]
    closed_windows: list[str]
    window_updates: list[Window]  # each with its new version; final ones have closed
    finals: set[str]
    alerts: list[AlertChange]
    watermark: int | None


class FleetPartition:
    """The fleet's state of one partition of meter.readings, fed in offset order.

    ``load_house`` / ``load_window`` read what the tables hold (JSON, or None). ``houses_on``
    gives (house, last hour, silent alert open) of the houses the tables know on this partition
    and ``open_windows_on`` (key, end) of its open windows: read once, kept up to date here.
    """

    def __init__(
        self, partition: int, rules: FleetRules, terms_of: Callable[[str], HouseTerms | None], *,
        load_house: Callable[[str], dict | None], load_window: Callable[[str], dict | None],
        houses_on: Callable[[int], Iterable[tuple[str, int | None, bool]]],
        open_windows_on: Callable[[int], Iterable[tuple[str, int]]], watermark: int | None = None,
    ) -> None:
        self.partition = partition
        self.rules = rules
        self.terms_of = terms_of
        self._load_house = load_house
        self._load_window = load_window
        self.watermark = watermark
        self._keep = rules.grace_hours * HOUR + 26 * HOUR  # counted hours older than this are pruned
        self._houses: dict[str, HouseState] = {}  # changed since the last drain
        self._windows: dict[str, Window] = {}  # changed (or closing) since the last drain
        self._last: dict[str, int | None] = {}
        self._silent: set[str] = set()
        for house_id, last, silent in houses_on(partition):
            self._last[house_id] = last
            if silent:
                self._silent.add(house_id)
        self._open: dict[str, int] = dict(open_windows_on(partition))  # key -> window end
        self._alerts: list[AlertChange] = []
        self._finals: set[str] = set()
        self._watermark_changed = False

    @property
    def changed(self) -> bool:
        """Whether a drain has anything to write."""
        return bool(self._houses or self._windows or self._alerts or self._watermark_changed)

    # ------------------------------------------------------------------ state
    def _house(self, house_id: str) -> HouseState:
        state = self._houses.get(house_id)
        if state is None:
            stored = self._load_house(house_id)
            state = HouseState.from_json(stored) if stored else HouseState(house_id, self.partition)
            self._houses[house_id] = state
        return state

    def _window(self, municipality_id: str, kind: str, start: int, end: int, local_date: str | None) -> Window:
        key = window_key(municipality_id, kind, start, self.partition)
        window = self._windows.get(key)
        if window is None:
            stored = self._load_window(key)
            window = Window.from_json(stored) if stored else Window(
                municipality_id, kind, start, end, local_date, self.partition)
            self._windows[key] = window
            self._open[key] = end
        return window

    def _closes_at(self, window_end: int) -> int:
        return window_end + self.rules.grace_hours * HOUR

    def _raise(self, state: HouseState, kind: str, since: int, detail: str, municipality_id: str | None) -> None:
        if kind in state.alerts:
            return
        state.alerts[kind] = since
        self._alerts.append(AlertChange(True, alert_id(state.house_id, kind, since), kind, state.house_id,
                                        municipality_id, since, detail))

    def _clear(self, state: HouseState, kind: str, at: int, municipality_id: str | None) -> None:
        since = state.alerts.pop(kind, None)
        if since is not None:
            self._alerts.append(AlertChange(False, alert_id(state.house_id, kind, since), kind, state.house_id,
                                            municipality_id, at))

    # ---------------------------------------------------------------- readings
    def apply_reading(self, reading: Reading) -> str:
        """Count a reading once in its windows and check its meter; returns counted|duplicate|too_late|unregistered."""
        terms = self.terms_of(reading.house_id)
        if terms is None:
            return "unregistered"
        hour_start, hour_end = hour_window(reading.hour)
        if self.watermark is not None and self._closes_at(hour_end) <= self.watermark:
            return "too_late"
        state = self._house(reading.house_id)
        counted = state.counted  # sorted
        at = bisect_left(counted, hour_start)
        if at < len(counted) and counted[at] == hour_start:
            return "duplicate"
        if self.watermark is not None and counted and counted[0] < self.watermark - self._keep:
            # hours whose day windows have all closed are not needed any more
            horizon = self.watermark - self._keep
            state.counted = counted = counted[bisect_left(counted, horizon):]
            state.day_reserve = {k: v for k, v in state.day_reserve.items() if int(k) >= horizon - 26 * HOUR}
        municipality = terms.municipality_at(hour_start)
        day_start, day_end, day = local_day_window(hour_start, terms.zone)
        first_of_day = bisect_left(counted, day_start)
        same_day = first_of_day < len(counted) and counted[first_of_day] < day_end
        insort(counted, hour_start)

        reserve = reserve_above_contract(reading.battery_level_pct, terms)
        hour = self._window(municipality, "hour", hour_start, hour_end, None)
        daily = self._window(municipality, "day", day_start, day_end, day.isoformat())
        for window in (hour, daily):
            totals = window.totals
            totals["readings"] += 1
            totals["readings_unbalanced"] += reading.unbalanced
            for name in ENERGY_FIELDS:
                totals[name] += getattr(reading, name)
        hour.totals["houses_reporting"] += 1
        hour.totals["reserve_above_contract_wh"] += reserve
        if not same_day:
            daily.totals["houses_reporting"] += 1
        latest = state.day_reserve.get(str(day_start))
        if latest is None or hour_start > latest[0]:
            daily.totals["reserve_above_contract_wh"] += reserve - (latest[1] if latest else 0)
            state.day_reserve[str(day_start)] = [hour_start, reserve]

        if state.last is None or hour_start > state.last:
            self._in_order(state, hour_start, reading.unbalanced, municipality)
        else:
            self._fill_gap(state, hour_start, municipality)
        self._last[state.house_id] = state.last
        self._silent.discard(state.house_id)
        return "counted"

    def _in_order(self, state: HouseState, hour: int, unbalanced: bool, municipality: str) -> None:
        if state.last is not None and hour > state.last + HOUR:
            state.gaps.append([state.last + HOUR, hour - HOUR])
            self._raise(state, "missing_hours", state.gaps[0][0],
                        f"{state.missing_count()} hour(s) missing from {instant(state.gaps[0][0]).isoformat()}",
                        municipality)
        self._clear(state, "silent_meter", hour, municipality)
        state.last = hour
        if unbalanced:
            if state.streak == 0:
                state.streak_since = hour
            state.streak += 1
            if state.streak >= self.rules.imbalance_streak:
                self._raise(state, "repeated_imbalance", state.streak_since or hour,
                            f"{state.streak} unbalanced hours in a row", municipality)
        else:
            state.streak, state.streak_since = 0, None
            self._clear(state, "repeated_imbalance", hour, municipality)

    def _fill_gap(self, state: HouseState, hour: int, municipality: str) -> None:
        for index, (first, last) in enumerate(state.gaps):
            if first <= hour <= last:
                pieces = [[first, hour - HOUR]] if hour > first else []
                pieces += [[hour + HOUR, last]] if hour < last else []
                state.gaps[index:index + 1] = pieces
                break
        if not state.gaps:
            self._clear(state, "missing_hours", hour, municipality)

    # --------------------------------------------------------------- watermark
    def apply_watermark(self, sim_time: int) -> None:
        """The partition's readings before ``sim_time`` are in: close windows, find silent meters."""
        if self.watermark is not None and sim_time <= self.watermark:
            return
        self.watermark = sim_time
        self._watermark_changed = True
        for key, end in sorted(self._open.items()):
            if self._closes_at(end) <= sim_time:
                if key not in self._windows:
                    stored = self._load_window(key)
                    if stored is None:
                        del self._open[key]
                        continue
                    self._windows[key] = Window.from_json(stored)
                self._finals.add(key)
                del self._open[key]
        silent_after = self.rules.silent_hours * HOUR
        for house_id, last in sorted(self._last.items()):
            if last is not None and house_id not in self._silent and sim_time - (last + HOUR) >= silent_after:
                terms = self.terms_of(house_id)
                self._raise(self._house(house_id), "silent_meter", last + HOUR,
                            f"no reading after {instant(last).isoformat()} (watermark {instant(sim_time).isoformat()})",
                            terms.municipality_at(last + HOUR) if terms else None)
                self._silent.add(house_id)

    # ------------------------------------------------------------------- drain
    def drain(self) -> Drained:
        """Everything changed since the last drain, then forget it (the tables hold it once written)."""
        updates = []
        open_windows: dict[str, dict] = {}
        closed: list[str] = []
        for key, window in self._windows.items():
            window.version += 1
            updates.append(window)
            if key in self._finals:
                closed.append(key)
            else:
                open_windows[key] = window.to_json()
        drained = Drained(
            houses={house_id: state.to_json() for house_id, state in self._houses.items()},
            open_windows=open_windows, closed_windows=closed, window_updates=updates, finals=set(self._finals),
            alerts=self._alerts, watermark=self.watermark if self._watermark_changed else None,
        )
        self._houses, self._windows, self._alerts, self._finals = {}, {}, [], set()
        self._watermark_changed = False
        return drained
