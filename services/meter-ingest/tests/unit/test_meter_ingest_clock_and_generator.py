"""Rules for merging, pacing, the wire format, checkpoints and the synthetic fleet generator."""

from datetime import date, datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from energychain_shared import events
from energychain_shared.registry import Registry

from energychain_meter_ingest.adapters.checkpoint import Checkpoint, CheckpointStore
from energychain_meter_ingest.adapters.csv_source import house_readings, inspect_export, load_manifest
from energychain_meter_ingest.adapters.fleet_files import generate_fleet
from energychain_meter_ingest.adapters.wire import HourStrings, ReadingEncoder, reading_event
from energychain_meter_ingest.domain.clock import Pacing, parse_speed
from energychain_meter_ingest.domain.generator import SiteClimate, house_spec, simulate_house, site_hours
from energychain_meter_ingest.domain.merge import merge_by_hour
from energychain_meter_ingest.domain.readings import Reading, ValidationPolicy

pytestmark = pytest.mark.unit


class Item:
    def __init__(self, hour, name):
        self.hour, self.name = hour, name


def test_merge_yields_hours_in_order_with_every_house_of_that_hour():
    a = iter([Item(1, "a1"), Item(2, "a2"), Item(4, "a4")])
    b = iter([Item(2, "b2"), Item(3, "b3")])
    c = iter([])
    merged = [(hour, [i.name for i in group]) for hour, group in merge_by_hour([a, b, c])]
    assert merged == [(1, ["a1"]), (2, ["a2", "b2"]), (3, ["b3"]), (4, ["a4"])]


@pytest.mark.parametrize(("text", "speed"), [("max", None), ("0", None), (0, None), ("1", Decimal(1)), ("3600", Decimal(3600))])
def test_speed_zero_or_max_means_as_fast_as_possible(text, speed):
    assert parse_speed(text) == speed


@pytest.mark.parametrize("text", ["-1", "fast", "nan"])
def test_bad_speed_is_refused(text):
    with pytest.raises(ValueError, match="speed"):
        parse_speed(text)


def test_pacing_at_3600_makes_one_simulated_hour_last_one_second():
    pacing = Pacing(wall_anchor=100.0, sim_anchor=0, speed=Decimal(3600))
    assert pacing.wall_due(3600) == pytest.approx(101.0)
    assert pacing.wall_due(7200 * 12) == pytest.approx(124.0)
    assert Pacing(wall_anchor=5.0, sim_anchor=0, speed=None).wall_due(10**9) == 5.0


def sample_reading(**overrides) -> Reading:
    values = dict(
        house_id="house-01", hour=int(datetime(2021, 11, 7, 9, tzinfo=timezone.utc).timestamp()),
        battery_discharged_wh=10, battery_charged_wh=0, solar_wh=0, home_wh=700, grid_export_wh=0,
        grid_import_wh=690, battery_level_pct=41, imbalance_wh=0, quality_flags=(),
        source_file="HourlyHouse01.csv", source_line=3218,
    )
    values.update(overrides)
    return Reading(**values)


@pytest.mark.parametrize(
    "overrides",
    [{}, {"battery_level_pct": None, "quality_flags": ("no_battery_level",)},
     {"quality_flags": ("battery_level_rounded", "unbalanced"), "imbalance_wh": -3130},
     {"source_file": 'Casa "Ñ".csv', "house_id": "house-r01"}],
)
def test_template_encoding_is_byte_identical_to_the_schema_encoding(overrides):
    reading = sample_reading(**overrides)
    fast = ReadingEncoder().encode(reading, HourStrings(reading.hour))
    assert fast == events.encode(reading_event(reading))
    decoded = events.decode(fast)
    assert decoded.event_id == events.MeterReadingRecorded.id_for(reading.house_id, reading.interval_start)


def test_checkpoint_round_trips_and_clears(tmp_path):
    store = CheckpointStore.for_replay(tmp_path, topic_prefix="t.", replay_id="r1")
    assert store.load() is None
    store.save(Checkpoint(replay_id="r1", last_hour=1_625_000_400, readings_published=12))
    assert store.load() == Checkpoint(replay_id="r1", last_hour=1_625_000_400, readings_published=12)
    store.clear()
    assert store.load() is None


def _site():
    return SiteClimate("parlier", 36.61, ZoneInfo("America/Los_Angeles"))


def test_every_generated_hour_balances_and_the_battery_stays_within_reserve_and_capacity():
    hours = site_hours(_site(), start=date(2021, 6, 1), end=date(2021, 6, 15), seed=3)
    spec = house_spec(house_id="h", municipality_id="parlier", seed=3, battery_wh=10_000, reserve_wh=2_000)
    generated = list(simulate_house(spec, hours, seed=3))
    assert len(generated) == 14 * 24
    for h in generated:
        assert h.solar_wh + h.battery_discharged_wh + h.grid_import_wh == h.home_wh + h.battery_charged_wh + h.grid_export_wh
        assert 20 <= h.battery_level_pct <= 100  # reserve 2 kWh of 10 kWh
        assert h.battery_charged_wh <= spec.charge_limit_w and h.battery_discharged_wh <= spec.discharge_limit_w
        assert min(h.battery_charged_wh, h.battery_discharged_wh) == 0
    assert sum(h.solar_wh for h in generated) > 0
    assert all(h.solar_wh == 0 for h in generated if h.local_text[11:13] in {"00", "01", "02", "03", "23"})


def test_summer_days_produce_more_solar_than_winter_days():
    summer = site_hours(_site(), start=date(2021, 6, 1), end=date(2021, 7, 1), seed=1)
    winter = site_hours(_site(), start=date(2021, 12, 1), end=date(2022, 1, 1), seed=1)
    assert sum(h.solar_fraction for h in summer) > 1.5 * sum(h.solar_fraction for h in winter)


def test_generated_local_times_have_the_export_dst_artefacts():
    hours = site_hours(_site(), start=date(2021, 11, 6), end=date(2021, 11, 8), seed=1)
    texts = [h.local_text for h in hours]
    assert texts.count("2021-11-07T01:00:00") == 2 and len(texts) == 49
    spring = [h.local_text for h in site_hours(_site(), start=date(2022, 3, 13), end=date(2022, 3, 14), seed=1)]
    assert "2022-03-13T02:00:00" not in spring and len(spring) == 23


def test_fleet_generation_is_deterministic_and_reads_back_clean(tmp_path):
    for out in (tmp_path / "a", tmp_path / "b"):
        generate_fleet(houses=3, municipalities=2, start=date(2021, 11, 1), end=date(2021, 11, 10), seed=9, out=out)
    a_files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert a_files == ["house-00001.csv", "house-00002.csv", "house-00003.csv", "manifest.json", "registry.json"]
    for name in a_files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    registry = Registry.model_validate_json((tmp_path / "a" / "registry.json").read_text())
    assert len(registry.residents) == 3 and len(registry.municipalities) == 2
    for source in load_manifest(tmp_path / "a" / "manifest.json"):
        inspect_export(source.path)
        rejections: list = []
        zone = registry.municipality_of(source.house_id).zone
        readings = list(house_readings(source, zone=zone, policy=ValidationPolicy(imbalance_tolerance_wh=0),
                                       on_rejection=rejections.append))
        assert rejections == []
        assert len(readings) == 9 * 24 + 1  # nine local days including the fall-back day's extra hour
        assert all(r.imbalance_wh == 0 and r.quality_flags == () for r in readings)


def test_generate_with_other_seed_gives_other_data(tmp_path):
    generate_fleet(houses=1, municipalities=1, start=date(2021, 7, 1), end=date(2021, 7, 3), seed=1, out=tmp_path / "a")
    generate_fleet(houses=1, municipalities=1, start=date(2021, 7, 1), end=date(2021, 7, 3), seed=2, out=tmp_path / "b")
    assert (tmp_path / "a" / "house-00001.csv").read_bytes() != (tmp_path / "b" / "house-00001.csv").read_bytes()


def test_fast_deterministic_id_equals_the_shared_deterministic_id():
    from energychain_meter_ingest.adapters.wire import deterministic_id_maker

    make = deterministic_id_maker("MeterReadingRecorded")
    for house in ("house-01", "house-r01", "h", "Ñandú-7"):
        for hour in range(0, 3600 * 50, 3600):
            key = datetime.fromtimestamp(1_625_000_400 + hour, timezone.utc).isoformat()
            assert make(house, key) == events.deterministic_id("MeterReadingRecorded", house, key)


def test_the_clock_runs_on_past_the_last_hour_with_data_only_up_to_until():
    from energychain_meter_ingest.domain.merge import run_clock_on

    data = [(0, ["a"]), (3600, ["b"])]
    assert list(run_clock_on(iter(data), after=None, until=4 * 3600)) == [(0, ["a"]), (3600, ["b"]), (7200, []),
                                                                          (10800, [])]
    assert list(run_clock_on(iter(data), after=None, until=None)) == data  # no until: the data alone
    assert list(run_clock_on(iter([]), after=3600, until=3 * 3600)) == [(7200, [])]  # resumed past the data
    assert list(run_clock_on(iter([]), after=None, until=3 * 3600)) == []  # no start: nothing to run on from
