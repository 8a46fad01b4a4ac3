"""The Green Button (ESPI) and CSV renderings of a house's hourly usage: structure, local time, exact Wh."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from energychain_billing.domain import greenbutton
from energychain_billing.domain.greenbutton import InvalidExport, export_format, export_span, local_time_parameters

pytestmark = pytest.mark.unit
LA = ZoneInfo("America/Los_Angeles")
UTC = timezone.utc
NS = {"atom": "http://www.w3.org/2005/Atom", "espi": "http://naesb.org/espi"}
MEASURES = ("home_wh", "solar_wh", "grid_import_wh", "grid_export_wh", "battery_charged_wh", "battery_discharged_wh",
            "billed_wh")


def usage_rows(span: greenbutton.ExportSpan, *, skip: set[datetime] = frozenset()) -> list[dict]:
    """Every hour of the span as /resident/usage returns it, with distinct integer Wh per hour and measure."""
    rows, at, n = [], span.start, 0
    while at < span.end:
        if at not in skip:
            wh = {m: 100 * (i + 1) + (n * 37 + i * 11) % 997 for i, m in enumerate(MEASURES)}
            rows.append({"start": at.isoformat(), **wh})
        at += timedelta(hours=1)
        n += 1
    return rows


def feed(span, rows, house_id="house-01") -> ET.Element:
    return ET.fromstring(greenbutton.render_xml(span, rows, house_id=house_id))


def entries_with(root: ET.Element, kind: str) -> list[ET.Element]:
    return root.findall(f"atom:entry/atom:content/espi:{kind}/../..", NS)


def link(entry: ET.Element, rel: str) -> list[str]:
    return [e.attrib["href"] for e in entry.findall(f"atom:link[@rel='{rel}']", NS)]


def text(element: ET.Element, path: str) -> str:
    return element.find(path, NS).text


def readings_by_title(root: ET.Element) -> dict[str, dict]:
    """MeterReading title -> its ReadingType element and its IntervalBlocks, followed through the feed's links."""
    types = {link(e, "self")[0]: e.find("atom:content/espi:ReadingType", NS) for e in entries_with(root, "ReadingType")}
    blocks = defaultdict(list)
    for entry in entries_with(root, "IntervalBlock"):
        blocks[link(entry, "up")[0]].append(entry.find("atom:content/espi:IntervalBlock", NS))
    out = {}
    for entry in entries_with(root, "MeterReading"):
        related = link(entry, "related")
        (reading_type,) = [types[href] for href in related if href in types]
        (own_blocks,) = [blocks[href] for href in related if href in blocks]
        out[text(entry, "atom:title")] = {"type": reading_type, "blocks": own_blocks}
    return out


def intervals(block: ET.Element) -> list[tuple[int, int, int]]:
    """(start epoch s, duration s, value Wh) of each IntervalReading."""
    return [
        (int(text(r, "espi:timePeriod/espi:start")), int(text(r, "espi:timePeriod/espi:duration")),
         int(text(r, "espi:value")))
        for r in block.findall("espi:IntervalReading", NS)
    ]


def local_day_sums(rows: list[dict], column: str) -> dict[date, int]:
    sums: dict[date, int] = defaultdict(int)
    for row in rows:
        sums[datetime.fromisoformat(row["start"]).astimezone(LA).date()] += row[column]
    return dict(sums)


def test_the_feed_is_one_usage_point_with_local_time_and_hourly_wh_readings_of_consumption_and_production():
    span = export_span("2021-11-01", "2021-12-01", LA)
    root = feed(span, usage_rows(span))

    assert root.tag == "{http://www.w3.org/2005/Atom}feed"
    (usage_point,) = entries_with(root, "UsagePoint")
    assert text(usage_point, "atom:content/espi:UsagePoint/espi:ServiceCategory/espi:kind") == "0"  # electricity
    (local_time,) = entries_with(root, "LocalTimeParameters")
    assert link(local_time, "self")[0] in link(usage_point, "related")
    params = local_time.find("atom:content/espi:LocalTimeParameters", NS)
    assert {child.tag.split("}")[1]: child.text for child in params} == {
        "dstStartRule": "360E2000", "dstEndRule": "B40E2000", "dstOffset": "3600", "tzOffset": "-28800",
    }
    meter_readings = entries_with(root, "MeterReading")
    assert len(meter_readings) == 2
    assert all(link(m, "up")[0] in link(usage_point, "related") for m in meter_readings)

    readings = readings_by_title(root)
    assert set(readings) == {"Home consumption", "Solar production"}
    for title, flow in (("Home consumption", "1"), ("Solar production", "19")):
        reading_type = readings[title]["type"]
        assert {child.tag.split("}")[1]: child.text for child in reading_type} == {
            "accumulationBehaviour": "4", "commodity": "1", "dataQualifier": "12", "flowDirection": flow,
            "intervalLength": "3600", "kind": "12", "phase": "769", "powerOfTenMultiplier": "0",
            "timeAttribute": "0", "uom": "72",
        }
        # One IntervalBlock per local day, each reading one UTC hour in epoch seconds.
        blocks = readings[title]["blocks"]
        assert len(blocks) == 30
        starts = [s for block in blocks for s, _, _ in intervals(block)]
        assert starts == list(range(int(span.start.timestamp()), int(span.end.timestamp()), 3600))
        assert {d for block in blocks for _, d, _ in intervals(block)} == {3600}
    assert root.find("atom:updated", NS).text == "2021-12-01T08:00:00Z"  # end of the last hour exported


@pytest.mark.parametrize(("day", "hours", "seconds"), [
    (date(2021, 11, 7), 25, 90000),  # fall back: 01:00 twice
    (date(2022, 3, 13), 23, 82800),  # spring forward: no 02:00
    (date(2021, 11, 8), 24, 86400),
])
def test_a_local_day_has_one_interval_per_hour_it_lasted_and_its_values_sum_exactly(day, hours, seconds):
    span = export_span((day - timedelta(days=1)).isoformat(), (day + timedelta(days=2)).isoformat(), LA)
    rows = usage_rows(span)
    readings = readings_by_title(feed(span, rows))

    for title, column in (("Home consumption", "home_wh"), ("Solar production", "solar_wh")):
        blocks = readings[title]["blocks"]
        assert len(blocks) == 3
        block = blocks[1]
        midnight = int(greenbutton.ExportSpan(day, day, LA).start.timestamp())
        assert (int(text(block, "espi:interval/espi:start")), int(text(block, "espi:interval/espi:duration"))) == (
            midnight, seconds
        )
        values = intervals(block)
        assert len(values) == hours
        assert [s for s, _, _ in values] == [midnight + 3600 * i for i in range(hours)]
        assert sum(v for _, _, v in values) == local_day_sums(rows, column)[day]
        assert sum(v for b in blocks for _, _, v in intervals(b)) == sum(r[column] for r in rows)


def test_the_csv_has_each_hour_in_local_time_with_its_offset_and_in_utc_with_every_measure_exact():
    span = export_span("2021-11-06", "2021-11-09", LA)
    rows = usage_rows(span)
    body = greenbutton.render_csv(span, rows).decode()
    table = list(csv.DictReader(io.StringIO(body)))

    assert body.splitlines()[0] == "local_start,utc_start," + ",".join(MEASURES)
    assert len(table) == 24 + 25 + 24
    fall_back = [r for r in table if r["local_start"].startswith("2021-11-07T01:00")]
    assert [(r["local_start"], r["utc_start"]) for r in fall_back] == [
        ("2021-11-07T01:00:00-07:00", "2021-11-07T08:00:00Z"), ("2021-11-07T01:00:00-08:00", "2021-11-07T09:00:00Z"),
    ]
    for measure in MEASURES:
        assert sum(int(r[measure]) for r in table) == sum(r[measure] for r in rows)
    assert [datetime.fromisoformat(r["utc_start"].replace("Z", "+00:00")) for r in table] == [
        datetime.fromisoformat(r["start"]) for r in rows
    ]


def test_the_csv_of_a_spring_forward_day_has_no_two_oclock():
    span = export_span("2022-03-13", "2022-03-14", LA)
    table = list(csv.DictReader(io.StringIO(greenbutton.render_csv(span, usage_rows(span)).decode())))
    assert [r["local_start"][11:] for r in table[:4]] == [
        "00:00:00-08:00", "01:00:00-08:00", "03:00:00-07:00", "04:00:00-07:00"
    ]
    assert len(table) == 23


def test_hours_without_readings_are_left_out_not_zero_and_the_same_data_gives_the_same_bytes():
    span = export_span("2021-11-01", "2021-11-03", LA)
    missing = {span.start + timedelta(hours=5), span.start + timedelta(hours=30)}
    rows = usage_rows(span, skip=missing)
    root = feed(span, rows)
    starts = {s for r in readings_by_title(root).values() for b in r["blocks"] for s, _, _ in intervals(b)}
    assert len(starts) == 48 - 2 and not {int(m.timestamp()) for m in missing} & starts
    assert greenbutton.render_xml(span, list(reversed(rows)), house_id="house-01") == greenbutton.render_xml(
        span, rows, house_id="house-01"
    )
    empty = feed(span, [])
    assert entries_with(empty, "IntervalBlock") == [] and len(entries_with(empty, "MeterReading")) == 2
    assert empty.find("atom:updated", NS).text == "2021-11-01T07:00:00Z"  # nothing metered: the range's start


def test_the_download_is_named_after_the_house_and_the_inclusive_local_days():
    span = export_span("2021-11-01", "2021-12-01", LA)
    xml = greenbutton.render(span, [], house_id="house-01", fmt="xml")
    assert (xml.filename, xml.media_type) == ("usage-house-01-2021-11-01-to-2021-11-30.xml", "application/atom+xml")
    assert greenbutton.render(span, [], house_id="house-01", fmt="csv").filename.endswith("2021-11-30.csv")


@pytest.mark.parametrize(("first", "end", "field"), [
    ("2021-11-1", "2021-12-01", "from"),
    ("yesterday", "2021-12-01", "from"),
    ("2021-02-30", "2021-12-01", "from"),
    ("2021-11-01", None, "to"),
    ("2021-11-01", "2021-11-01", "to"),  # empty range
    ("2021-11-02", "2021-11-01", "to"),  # from after to
    ("2021-01-01", "2022-01-03", "to"),  # 367 days
    ("0001-01-01", "0001-01-02", "from"),
])
def test_a_bad_range_is_refused_naming_the_field(first, end, field):
    with pytest.raises(InvalidExport) as refused:
        export_span(first, end, LA)
    assert refused.value.field == field


def test_a_year_of_366_days_is_accepted_and_the_format_is_xml_or_csv():
    assert (export_span("2023-07-01", "2024-07-01", LA).end - export_span("2023-07-01", "2024-07-01", LA).start) == (
        timedelta(days=366)
    )
    assert [export_format(f) for f in ("xml", "csv")] == ["xml", "csv"]
    with pytest.raises(InvalidExport) as refused:
        export_format("pdf")
    assert refused.value.field == "format"


def test_energy_must_be_exact_integers_and_inside_the_range():
    span = export_span("2021-11-01", "2021-11-02", LA)
    row = usage_rows(span)[0]
    with pytest.raises(ValueError, match="integer"):
        greenbutton.render_xml(span, [{**row, "home_wh": 1.5}], house_id="house-01")
    with pytest.raises(ValueError, match="not a whole hour"):
        greenbutton.render_xml(span, [{**row, "start": (span.end).isoformat()}], house_id="house-01")
    with pytest.raises(ValueError, match="twice"):
        greenbutton.render_xml(span, [row, row], house_id="house-01")


def test_local_time_rules_are_read_from_the_zone_not_assumed():
    assert local_time_parameters(LA, 2021) == greenbutton.LocalTimeParameters(-28800, 3600, 0x360E2000, 0xB40E2000)
    assert local_time_parameters(ZoneInfo("America/New_York"), 2022).tz_offset == -18000
    phoenix = local_time_parameters(ZoneInfo("America/Phoenix"), 2021)  # no daylight saving time
    assert phoenix == greenbutton.LocalTimeParameters(-25200, 0, 0xFFFFFFFF, 0xFFFFFFFF)
    # The last Sunday of March at 02:00 and of October at 03:00 (operator 7: last occurrence).
    assert local_time_parameters(ZoneInfo("Europe/Paris"), 2021) == greenbutton.LocalTimeParameters(
        3600, 3600, 0x3E0E2000, 0xAE0E3000
    )
