"""Rules for reading meter exports: exact energy, local time with DST artefacts, validation, duplicates."""

from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from energychain_meter_ingest.adapters.csv_source import HouseSource, house_readings, inspect_export, load_manifest, parse_mapping
from energychain_meter_ingest.domain.energy import EnergyValueError, kwh_text_to_wh, wh_to_kwh_text
from energychain_meter_ingest.domain.readings import (
    HEADER,
    MeterFileParser,
    NotAMeterExport,
    Reading,
    Rejection,
    ValidationPolicy,
)

pytestmark = pytest.mark.unit
LA = ZoneInfo("America/Los_Angeles")
HEADER_LINE = ",".join(HEADER)


def utc(*args) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp())


def parser(policy: ValidationPolicy = ValidationPolicy()) -> MeterFileParser:
    return MeterFileParser(house_id="house-01", zone=LA, policy=policy, source_file="h.csv")


def row(date: str, values=("0", "0", "0.5", "0.3", "0.2", "0"), level="40") -> list[str]:
    return [date, *values, level]


# ------------------------------------------------------------------ energy
@pytest.mark.parametrize(
    ("text", "wh"),
    [("0", 0), ("0.54", 540), ("17.46", 17460), ("1.5", 1500), ("0.001", 1), ("12", 12000),
     ("0.5400", 540), ("1e-3", 1), ("+2.5", 2500), (" 3.25 ", 3250)],
)
def test_kwh_text_converts_exactly_to_integer_wh(text, wh):
    assert kwh_text_to_wh(text) == wh


def test_fast_path_agrees_with_decimal_for_every_plain_value():
    for whole in (0, 1, 9, 123):
        for frac in ("", "5", "05", "50", "005", "999", "1", "10", "100"):
            text = f"{whole}.{frac}" if frac else str(whole)
            assert kwh_text_to_wh(text) == int(Decimal(text) * 1000), text


def test_value_finer_than_one_wh_is_rejected():
    with pytest.raises(EnergyValueError) as error:
        kwh_text_to_wh("0.0005")
    assert error.value.reason == "too_precise"


@pytest.mark.parametrize("text", ["abc", "1.2.3", "nan", "inf", "1,5", "0x10"])
def test_unparsable_values_are_rejected_as_unparsable(text):
    with pytest.raises(EnergyValueError) as error:
        kwh_text_to_wh(text)
    assert error.value.reason == "unparsable_number"


def test_negative_value_parses_negative_for_the_validator_to_reject():
    assert kwh_text_to_wh("-0.25") == -250


def test_wh_to_kwh_text_round_trips():
    for wh in (0, 1, 10, 540, 1000, 17460, 123456):
        assert kwh_text_to_wh(wh_to_kwh_text(wh)) == wh


# --------------------------------------------------------------------- DST
def test_spring_forward_hour_is_absent_and_the_hours_around_it_are_consecutive_in_utc():
    p = parser()
    before = p.feed(2, row("2022-03-13T01:00:00"))
    after = p.feed(3, row("2022-03-13T03:00:00"))
    assert isinstance(before, Reading) and isinstance(after, Reading)
    assert before.hour == utc(2022, 3, 13, 9)  # 01:00 PST = 09:00Z
    assert after.hour == utc(2022, 3, 13, 10)  # 03:00 PDT = 10:00Z
    assert after.hour - before.hour == 3600


def test_a_row_in_the_skipped_spring_forward_hour_is_rejected():
    outcome = parser().feed(2, row("2022-03-13T02:00:00"))
    assert isinstance(outcome, Rejection)
    assert outcome.reason == "nonexistent_local_time"


def test_fall_back_hour_appearing_twice_is_two_distinct_utc_hours_daylight_first():
    p = parser()
    first = p.feed(2, row("2021-11-07T00:00:00"))
    daylight = p.feed(3, row("2021-11-07T01:00:00"))
    standard = p.feed(4, row("2021-11-07T01:00:00"))
    following = p.feed(5, row("2021-11-07T02:00:00"))
    assert [r.hour for r in (first, daylight, standard, following)] == [
        utc(2021, 11, 7, 7), utc(2021, 11, 7, 8), utc(2021, 11, 7, 9), utc(2021, 11, 7, 10)
    ]


def test_a_third_sighting_of_the_fall_back_hour_is_a_duplicate_of_the_standard_hour():
    p = parser()
    p.feed(2, row("2021-11-07T01:00:00"))
    p.feed(3, row("2021-11-07T01:00:00"))
    assert p.feed(4, row("2021-11-07T01:00:00")) is None
    conflicting = p.feed(5, row("2021-11-07T01:00:00", level="41"))
    assert isinstance(conflicting, Rejection) and conflicting.reason == "conflicting_duplicate"


# -------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (["2021-07-01T00:00:00", "0", "0", "0.5"], "missing_fields"),
        (row("2021-07-01T00:00:00") + ["x"], "extra_fields"),
        (row("yesterday"), "unparsable_time"),
        (row("2021-07-01T00:30:00"), "not_on_the_hour"),
        (row("2021-07-01T00:00:00", values=("0", "0", "abc", "0.3", "0.2", "0")), "unparsable_number"),
        (row("2021-07-01T00:00:00", values=("0", "0", "-0.5", "0.3", "0.2", "0")), "negative_value"),
        (row("2021-07-01T00:00:00", values=("0", "0", "", "0.3", "0.2", "0")), "missing_value"),
        (row("2021-07-01T00:00:00", values=("0", "0", "0.0001", "0.3", "0.2", "0")), "too_precise"),
        (row("2021-07-01T00:00:00", values=("0", "0", "75", "0.3", "0.2", "0")), "absurd_value"),
        (row("2021-07-01T00:00:00", level="101"), "battery_level_out_of_range"),
        (row("2021-07-01T00:00:00", level="-1"), "battery_level_out_of_range"),
        (row("2021-07-01T00:00:00", level="full"), "unparsable_number"),
    ],
)
def test_invalid_rows_are_rejected_with_a_reason_code_and_position(fields, reason):
    outcome = parser().feed(7, fields)
    assert isinstance(outcome, Rejection)
    assert (outcome.reason, outcome.source_line, outcome.source_file) == (reason, 7, "h.csv")
    assert outcome.raw == ",".join(fields)


def test_absurd_threshold_is_configurable():
    fields = row("2021-07-01T00:00:00", values=("0", "0", "75", "74.8", "0.2", "0"))
    assert isinstance(parser(ValidationPolicy(max_wh_per_hour=100_000)).feed(2, fields), Reading)


def test_unbalanced_hour_is_kept_with_its_imbalance_and_a_flag():
    # sources 0.5 + 0 + 0 vs sinks 0.3 + 0 + 0.1: 100 Wh unaccounted for
    reading = parser().feed(2, row("2021-07-01T00:00:00", values=("0", "0", "0.5", "0.3", "0.1", "0")))
    assert isinstance(reading, Reading)
    assert reading.imbalance_wh == 100
    assert reading.quality_flags == ("unbalanced",)


def test_imbalance_within_tolerance_is_not_flagged_but_still_reported():
    reading = parser().feed(2, row("2021-07-01T00:00:00", values=("0", "0", "0.51", "0.3", "0.2", "0")))
    assert reading.imbalance_wh == 10
    assert reading.quality_flags == ()


def test_fractional_battery_level_is_rounded_half_up_and_flagged():
    reading = parser().feed(2, row("2021-07-01T00:00:00", level="98.5"))
    assert reading.battery_level_pct == 99
    assert "battery_level_rounded" in reading.quality_flags


def test_exact_duplicate_row_is_published_once_and_conflicting_duplicate_is_rejected():
    p = parser()
    first = p.feed(2, row("2021-07-01T05:00:00"))
    assert isinstance(first, Reading)
    assert p.feed(3, row("2021-07-01T05:00:00")) is None
    conflict = p.feed(4, row("2021-07-01T05:00:00", values=("0", "0", "0.6", "0.4", "0.2", "0")))
    assert isinstance(conflict, Rejection) and conflict.reason == "conflicting_duplicate"


def test_row_going_back_in_time_to_an_unseen_hour_is_rejected_as_out_of_order():
    p = parser()
    p.feed(2, row("2021-07-01T05:00:00"))
    late = p.feed(3, row("2021-07-01T03:00:00"))
    assert isinstance(late, Rejection) and late.reason == "out_of_order"


# ------------------------------------------------------------------- files
def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def read_all(path: Path, house="house-01", zone=LA, contract_end=None):
    rejections: list[Rejection] = []
    readings = list(
        house_readings(HouseSource(house, path), zone=zone, policy=ValidationPolicy(), on_rejection=rejections.append,
                       contract_end=contract_end)
    )
    return readings, rejections


def test_corrupted_file_keeps_good_rows_and_dead_letters_each_bad_one(tmp_path):
    path = write(
        tmp_path,
        "bad.csv",
        "\r\n".join([
            HEADER_LINE,
            "2021-07-01T00:00:00,0,0,0,0.54,0,0.54,40",
            "2021-07-01T01:00:00,0,0,zero,0.54,0,0.54,40",
            "2021-07-01T02:00:00,0,0,0,-0.54,0,0.54,40",
            "2021-07-01T03:00:00,0,0,0,0.54",
            "2021-07-01T04:00:00,0,0,0,0.50,0,0.50,40",
            "2021-07-01T04:00:00,0,0,0,0.50,0,0.50,40",
            "2021-07-01T04:00:00,0,0,0,0.70,0,0.70,40",
            "2021-07-01T05:00:00,0,0,0,0.3",  # truncated last line, no newline
        ]),
    )
    readings, rejections = read_all(path)
    assert [(r.source_line, r.home_wh) for r in readings] == [(2, 540), (6, 500)]
    assert [(r.source_line, r.reason) for r in rejections] == [
        (3, "unparsable_number"), (4, "negative_value"), (5, "missing_fields"),
        (8, "conflicting_duplicate"), (9, "missing_fields"),
    ]


def test_rows_of_an_unknown_house_are_all_dead_lettered_as_unknown_house(tmp_path):
    path = write(tmp_path, "x.csv", f"{HEADER_LINE}\n2021-07-01T00:00:00,0,0,0,0.54,0,0.54,40\n2021-07-01T01:00:00,0,0,0,0.5,0,0.5,40\n")
    readings, rejections = read_all(path, house="house-99", zone=None)
    assert readings == []
    assert [(r.reason, r.house_id, r.source_line) for r in rejections] == [
        ("unknown_house", "house-99", 2), ("unknown_house", "house-99", 3)
    ]


def test_readings_after_the_contract_ended_are_dead_lettered_as_out_of_contract(tmp_path):
    path = write(tmp_path, "x.csv", f"{HEADER_LINE}\n2021-07-01T00:00:00,0,0,0,0.54,0,0.54,40\n"
                 "2021-07-01T01:00:00,0,0,0,0.5,0,0.5,40\n")
    ended = int(datetime(2021, 7, 1, 8, tzinfo=timezone.utc).timestamp())  # local 01:00, the second row's hour
    readings, rejections = read_all(path, contract_end=ended)
    assert [r.source_line for r in readings] == [2]
    assert [(r.reason, r.source_line, r.raw.split(",")[0]) for r in rejections] == [
        ("out_of_contract", 3, "2021-07-01T01:00:00")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (b"\xff\xfe\xfa garbage", "UTF-8"),
        (b"date,solar,home\n2021-07-01T00:00:00,1,2\n", "header"),
        (("DATE,BATTERY CHARGED (kWh)," + ",".join(HEADER[2:]) + "\n").encode(), "header"),
    ],
)
def test_a_file_that_is_not_a_meter_export_is_refused_as_a_whole(tmp_path, content, message):
    with pytest.raises(NotAMeterExport, match=message):
        inspect_export(write(tmp_path, "f.csv", content))


def test_header_with_byte_order_mark_and_blanks_is_accepted(tmp_path):
    inspect_export(write(tmp_path, "bom.csv", "\ufeff" + " , ".join(HEADER) + "\r\n"))


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(NotAMeterExport, match="cannot read"):
        inspect_export(tmp_path / "absent.csv")


def test_resume_point_skips_readings_already_published(tmp_path):
    path = write(tmp_path, "r.csv", "\n".join([HEADER_LINE] + [f"2021-07-01T0{h}:00:00,0,0,0,0.5,0,0.5,40" for h in range(5)]))
    rejections: list = []
    readings = list(house_readings(HouseSource("house-01", path), zone=LA, policy=ValidationPolicy(),
                                   on_rejection=rejections.append, resume_after=utc(2021, 7, 1, 8)))
    assert [r.hour for r in readings] == [utc(2021, 7, 1, h) for h in (9, 10, 11)]


def test_house_mapping_pairs_and_manifest_name_each_house_once(tmp_path):
    assert [s.house_id for s in parse_mapping(["house-01=a.csv", "house-02=b.csv"])] == ["house-01", "house-02"]
    with pytest.raises(ValueError, match="more than one file"):
        parse_mapping(["house-01=a.csv", "house-01=b.csv"])
    with pytest.raises(ValueError, match="house-01=path"):
        parse_mapping(["a.csv"])
    manifest = write(tmp_path, "manifest.json", '{"houses": {"house-01": "a.csv"}}')
    (source,) = load_manifest(manifest)
    assert source.path == (tmp_path / "a.csv").resolve()
