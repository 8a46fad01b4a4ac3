"""The fleet stream's rules (domain/fleet.py, domain/fleet_view.py): windows, lateness, redelivery, alerts."""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from energychain_shared.events import deterministic_id

from energychain_market.domain.fleet import (
    HOUR,
    alert_id,
    FleetPartition,
    FleetRules,
    HouseTerms,
    Reading,
    epoch,
    local_day_window,
    reserve_above_contract,
)
from energychain_market.domain.fleet_view import FleetView

pytestmark = pytest.mark.unit
PACIFIC = ZoneInfo("America/Los_Angeles")
UTC = timezone.utc
T0 = epoch(datetime(2021, 8, 1, 7, tzinfo=UTC))  # local midnight of 1 Aug 2021
TERMS = {
    "house-01": HouseTerms("parlier", PACIFIC, battery_wh=13_500, reserve_wh=2_700),
    "house-02": HouseTerms("parlier", PACIFIC, battery_wh=10_000, reserve_wh=2_000),
    "house-09": HouseTerms("reedley", PACIFIC, battery_wh=10_000, reserve_wh=0),
}


def reading(house: str, hour: int, *, home: int = 1000, solar: int = 0, imported: int = 1000, level: int | None = 50,
            unbalanced: bool = False) -> Reading:
    return Reading(house, hour, home_wh=home, solar_wh=solar, grid_import_wh=imported, grid_export_wh=0,
                   battery_charged_wh=0, battery_discharged_wh=0, battery_level_pct=level, unbalanced=unbalanced)


class Tables:
    """What the faust tables would hold: the drains written back."""

    def __init__(self) -> None:
        self.houses: dict[str, dict] = {}
        self.windows: dict[str, dict] = {}
        self.published: list = []
        self.alerts: list = []

    def partition(self, number: int = 0, rules: FleetRules = FleetRules(), watermark: int | None = None):
        return FleetPartition(
            number, rules, TERMS.get, load_house=self.houses.get, load_window=self.windows.get,
            houses_on=lambda p: [(k, v["l"], "silent_meter" in v["a"]) for k, v in self.houses.items() if v["p"] == p],
            open_windows_on=lambda p: [(k, v["e"]) for k, v in self.windows.items() if v["p"] == p],
            watermark=watermark,
        )

    def write(self, drained) -> None:
        self.houses.update(drained.houses)
        for key in drained.closed_windows:
            self.windows.pop(key, None)
        self.windows.update(drained.open_windows)
        self.published += drained.window_updates
        self.alerts += drained.alerts


def totals(tables: Tables, kind: str, start: int, municipality: str = "parlier") -> dict:
    view = FleetView()
    for window in tables.published:
        view.apply_window(municipality_id=window.municipality_id, kind=window.kind, start=window.start,
                          end=window.end, local_date=window.local_date, partition=window.partition,
                          version=window.version, final=False, totals=window.totals)
    return next(r for r in view.windows(kind, municipality_id=municipality) if r["start"] == start)


def test_a_reading_counts_in_its_hour_and_its_local_day_per_municipality():
    tables = Tables()
    part = tables.partition()
    for house in ("house-01", "house-02"):
        for h in range(3):
            assert part.apply_reading(reading(house, T0 + h * HOUR, home=1000 + h, level=60)) == "counted"
    tables.write(part.drain())
    hour = totals(tables, "hour", T0 + HOUR)
    assert (hour["readings"], hour["houses_reporting"], hour["home_wh"]) == (2, 2, 2002)
    # 60 % of 13,500 Wh is 8,100, above a 2,700 reserve by 5,400; 60 % of 10,000 above 2,000 by 4,000.
    assert hour["reserve_above_contract_wh"] == 5_400 + 4_000
    day = totals(tables, "day", T0)
    assert (day["readings"], day["houses_reporting"], day["home_wh"], day["local_date"]) == (6, 2, 6006, "2021-08-01")
    assert day["reserve_above_contract_wh"] == 9_400  # the latest reading of each house, not their sum


def test_local_days_follow_daylight_saving_time():
    start, end, day = local_day_window(epoch(datetime(2021, 11, 7, 12, tzinfo=UTC)), PACIFIC)
    assert day == date(2021, 11, 7) and (end - start) // HOUR == 25
    start, end, day = local_day_window(epoch(datetime(2022, 3, 13, 12, tzinfo=UTC)), PACIFIC)
    assert day == date(2022, 3, 13) and (end - start) // HOUR == 23


def test_reserve_above_contract_is_never_negative_and_zero_without_a_level():
    terms = TERMS["house-01"]
    assert reserve_above_contract(10, terms) == 0
    assert reserve_above_contract(None, terms) == 0
    assert reserve_above_contract(100, terms) == 10_800


def test_a_redelivered_reading_changes_nothing_and_a_late_one_within_grace_counts_once():
    tables = Tables()
    part = tables.partition(rules=FleetRules(grace_hours=3))
    part.apply_reading(reading("house-01", T0))
    part.apply_reading(reading("house-01", T0 + 2 * HOUR))
    part.apply_watermark(T0 + 3 * HOUR)
    assert part.apply_reading(reading("house-01", T0)) == "duplicate"
    assert part.apply_reading(reading("house-01", T0 + HOUR, home=700)) == "counted"  # late, window still open
    assert part.apply_reading(reading("house-01", T0 + HOUR, home=700)) == "duplicate"
    tables.write(part.drain())
    assert totals(tables, "day", T0)["home_wh"] == 2700
    assert totals(tables, "day", T0)["houses_reporting"] == 1


def test_a_reading_behind_a_closed_window_is_too_late_and_the_window_was_published_final():
    tables = Tables()
    part = tables.partition(rules=FleetRules(grace_hours=2))
    part.apply_reading(reading("house-01", T0))
    tables.write(part.drain())
    part.apply_watermark(T0 + HOUR + 2 * HOUR)
    drained = part.drain()
    assert [w.kind for w in drained.window_updates if w.key in drained.finals] == ["hour"]
    tables.write(drained)
    assert part.apply_reading(reading("house-01", T0, home=5)) == "too_late"
    assert not any(key.startswith("parlier|hour|") for key in tables.windows)  # closed windows leave the table


def test_state_written_and_read_back_gives_the_same_result_as_one_pass():
    """What a restarted partition rebuilds from its tables carries on exactly where it was."""
    one = Tables()
    whole = one.partition()
    for h in range(6):
        whole.apply_reading(reading("house-01", T0 + h * HOUR, home=100 + h))
    one.write(whole.drain())

    two = Tables()
    first = two.partition()
    for h in range(3):
        first.apply_reading(reading("house-01", T0 + h * HOUR, home=100 + h))
    two.write(first.drain())
    second = two.partition()  # a new instance, from the tables alone
    for h in range(2, 6):  # hour 2 again: read twice across the restart
        second.apply_reading(reading("house-01", T0 + h * HOUR, home=100 + h))
    two.write(second.drain())
    assert totals(one, "day", T0) == totals(two, "day", T0)


def test_a_silent_meter_raises_an_alert_that_its_next_reading_clears_and_the_hole_stays_missing():
    tables = Tables()
    part = tables.partition(rules=FleetRules(silent_hours=3))
    part.apply_reading(reading("house-01", T0))
    part.apply_reading(reading("house-02", T0))
    for h in range(1, 8):
        part.apply_reading(reading("house-02", T0 + h * HOUR))
        part.apply_watermark(T0 + (h + 1) * HOUR)
    drained = part.drain()
    assert [(a.raised, a.kind, a.house_id, a.at) for a in drained.alerts] == [
        (True, "silent_meter", "house-01", T0 + HOUR)]
    tables.write(drained)
    part.apply_reading(reading("house-01", T0 + 8 * HOUR))
    changes = part.drain().alerts
    assert [(a.raised, a.kind) for a in changes] == [(True, "missing_hours"), (False, "silent_meter")]
    assert changes[1].alert_id == drained.alerts[0].alert_id
    assert "7 hour(s) missing" in changes[0].detail


def test_missing_hours_clear_when_every_missing_hour_arrives():
    tables = Tables()
    part = tables.partition()
    part.apply_reading(reading("house-01", T0))
    part.apply_reading(reading("house-01", T0 + 3 * HOUR))
    part.apply_reading(reading("house-01", T0 + HOUR))
    drained = part.drain()
    assert [(a.raised, a.kind) for a in drained.alerts] == [(True, "missing_hours")]
    tables.write(drained)
    part.apply_reading(reading("house-01", T0 + 2 * HOUR))
    assert [(a.raised, a.kind) for a in part.drain().alerts] == [(False, "missing_hours")]


def test_repeated_imbalance_needs_the_streak_and_a_balanced_hour_clears_it():
    tables = Tables()
    part = tables.partition(rules=FleetRules(imbalance_streak=3))
    for h in range(2):
        part.apply_reading(reading("house-01", T0 + h * HOUR, unbalanced=True))
    part.apply_reading(reading("house-01", T0 + 2 * HOUR))
    for h in range(3, 6):
        part.apply_reading(reading("house-01", T0 + h * HOUR, unbalanced=True))
    part.apply_reading(reading("house-01", T0 + 6 * HOUR))
    alerts = part.drain().alerts
    assert [(a.raised, a.kind, a.at) for a in alerts] == [
        (True, "repeated_imbalance", T0 + 3 * HOUR), (False, "repeated_imbalance", T0 + 6 * HOUR)]


def test_unregistered_houses_count_nowhere():
    part = Tables().partition()
    assert part.apply_reading(reading("house-77", T0)) == "unregistered"
    assert part.drain().window_updates == []


def test_the_view_sums_partitions_keeps_each_partitions_latest_and_scopes_municipalities():
    view = FleetView()
    base = dict(kind="hour", start=T0, end=T0 + HOUR, local_date=None, final=False)
    view.apply_window(municipality_id="parlier", partition=0, version=2, totals={"home_wh": 20}, **base)
    view.apply_window(municipality_id="parlier", partition=0, version=1, totals={"home_wh": 10}, **base)  # older
    view.apply_window(municipality_id="parlier", partition=5, version=1, totals={"home_wh": 7}, **base)
    view.apply_window(municipality_id="reedley", partition=5, version=1, totals={"home_wh": 100}, **base)
    rows = {r["scope"]: r["home_wh"] for r in view.windows("hour")}
    assert rows == {"parlier": 27, "reedley": 100, "fleet": 127}
    assert [r["scope"] for r in view.windows("hour", municipality_id="reedley")] == ["reedley"]


def test_the_view_forgets_windows_older_than_it_keeps():
    view = FleetView(keep_hours=2)
    for h in range(5):
        view.apply_window(municipality_id="parlier", kind="hour", start=T0 + h * HOUR, end=T0 + (h + 1) * HOUR,
                          local_date=None, partition=0, version=1, final=True, totals={"readings": 1})
    assert sorted(r["start"] for r in view.windows("hour", municipality_id="parlier")) == [T0 + 3 * HOUR, T0 + 4 * HOUR]


def test_an_alert_id_is_the_events_deterministic_id_of_house_kind_and_start():
    since = epoch(datetime(2021, 9, 15, 7, tzinfo=UTC))
    assert alert_id("house-02", "silent_meter", since) == deterministic_id(
        "FleetAlert", "house-02", "silent_meter", "2021-09-15T07:00:00+00:00")


def test_a_house_that_moved_counts_in_its_new_municipality_from_the_move_and_in_the_old_one_before():
    moved = {"house-05": HouseTerms("parlier", PACIFIC, battery_wh=10_000, reserve_wh=0,
                                    moves=((T0 + 24 * HOUR, "reedley"),))}
    tables = Tables()
    part = FleetPartition(0, FleetRules(), moved.get, load_house=tables.houses.get, load_window=tables.windows.get,
                          houses_on=lambda p: [], open_windows_on=lambda p: [], watermark=None)
    assert part.apply_reading(reading("house-05", T0 + 23 * HOUR, home=700)) == "counted"  # 23:00 on 1 Aug
    assert part.apply_reading(reading("house-05", T0 + 24 * HOUR, home=900)) == "counted"  # local midnight, 2 Aug
    tables.write(part.drain())
    assert totals(tables, "day", T0, "parlier")["home_wh"] == 700
    assert totals(tables, "day", T0 + 24 * HOUR, "reedley")["home_wh"] == 900
    assert moved["house-05"].municipality_at(T0 + 24 * HOUR - 1) == "parlier"
