"""A house's hourly usage as a Green Button (NAESB ESPI) feed or a CSV file, to download.

Pure rendering, no I/O: the input is the hourly rows of ``/resident/usage`` (UTC hour
start, integer Wh of each measure), the output the bytes of the file.

The Green Button feed is an Atom feed with one UsagePoint (the house's electricity
service), its LocalTimeParameters (the municipality's standard offset, DST offset and
DST rules), and two MeterReadings, each with its own ReadingType and one IntervalBlock
per local day of hourly IntervalReadings:

- **Home consumption** (``home_wh``): the energy the house used, whatever supplied it
  (solar, battery or grid). ``flowDirection`` 1 (forward: delivered to the home).
- **Solar production** (``solar_wh``): what the rooftop system produced.
  ``flowDirection`` 19 (reverse: produced at the customer's premises).

Both are hourly deltas in Wh (``uom`` 72, ``powerOfTenMultiplier`` 0, ``intervalLength``
3600, ``accumulationBehaviour`` 4 deltaData, ``commodity`` 1 electricity, ``kind`` 12
energy, ``phase`` 769 split-phase). Each IntervalReading's ``timePeriod`` starts at
the UTC hour in epoch seconds and lasts 3600 s, so a fall-back day has 25 readings and
a spring-forward day 23, and its ``value`` is the exact integer the meter recorded.
Times in the feed are event time: ``updated`` is the end of the last metered hour
exported, never the wall clock; the same data gives the same bytes.

The CSV has one row per metered hour: the local start with its offset, the UTC start,
and every measure of the usage API in Wh (home, solar, grid import and export, battery
charge and discharge, and the energy billed under the contract's basis).
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr
from zoneinfo import ZoneInfo

UTC = timezone.utc
HOUR_S = 3600
MAX_DAYS = 366
FIRST_YEAR, LAST_YEAR = 1900, 9998  # instants in every zone stay representable
FORMATS = ("xml", "csv")
MEDIA_TYPES = {"xml": "application/atom+xml", "csv": "text/csv; charset=utf-8"}
CSV_MEASURES = (
    "home_wh", "solar_wh", "grid_import_wh", "grid_export_wh", "battery_charged_wh", "battery_discharged_wh",
    "billed_wh",
)
ATOM_NS = "http://www.w3.org/2005/Atom"
ESPI_NS = "http://naesb.org/espi"
BASE = "/espi/1_1/resource"
# The namespace of every id in a feed (uuid5): the same house, range and data give the same ids.
ID_NAMESPACE = uuid.UUID("7d0f3b0e-4a8c-5e36-9a51-0d5c3f6b2e11")
DST_DISABLED = 0xFFFFFFFF

# ESPI codes (NAESB REQ.21 ESPI, espi.xsd enumerations).
SERVICE_ELECTRICITY = 0
ACCUMULATION_DELTA = 4
COMMODITY_ELECTRICITY = 1
DATA_QUALIFIER_NORMAL = 12
FLOW_FORWARD = 1
FLOW_REVERSE = 19
KIND_ENERGY = 12
PHASE_S1S2N = 769  # a house's split-phase service: both legs and neutral
TIME_ATTRIBUTE_NONE = 0
UOM_WH = 72


@dataclass(frozen=True)
class Measure:
    """One MeterReading of the feed: which usage column, what it is called, which way the energy flows."""

    column: str
    title: str
    flow_direction: int


FEED_MEASURES = (
    Measure("home_wh", "Home consumption", FLOW_FORWARD),
    Measure("solar_wh", "Solar production", FLOW_REVERSE),
)


class InvalidExport(ValueError):
    """An export request that cannot be answered; ``field`` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ExportSpan:
    """Local days [first_day, end_day) of a municipality's zone."""

    first_day: date
    end_day: date
    zone: ZoneInfo

    @property
    def start(self) -> datetime:
        """UTC instant of local midnight starting ``first_day``."""
        return _midnight(self.first_day, self.zone)

    @property
    def end(self) -> datetime:
        """UTC instant of local midnight starting ``end_day`` (exclusive)."""
        return _midnight(self.end_day, self.zone)

    @property
    def last_day(self) -> date:
        """The last local day exported (inclusive)."""
        return self.end_day - timedelta(days=1)


@dataclass(frozen=True)
class UsageHour:
    """One metered hour: UTC start and integer Wh by usage column."""

    start: datetime
    wh: Mapping[str, int]

    @classmethod
    def of(cls, row: Mapping[str, object]) -> UsageHour:
        """From a ``/resident/usage`` hourly row (``start`` an ISO time or a datetime, integer Wh columns)."""
        start = row["start"]
        when = start if isinstance(start, datetime) else datetime.fromisoformat(str(start))
        if when.tzinfo is None:
            raise ValueError(f"hour start without a zone: {start!r}")
        return cls(when.astimezone(UTC), {k: _exact(k, v) for k, v in row.items() if k != "start"})


@dataclass(frozen=True)
class Export:
    """A rendered file: its bytes, media type and download name."""

    body: bytes
    media_type: str
    filename: str


@dataclass(frozen=True)
class LocalTimeParameters:
    """ESPI LocalTimeParameters: standard offset and DST offset in seconds, DST rules as 32-bit codes."""

    tz_offset: int
    dst_offset: int
    dst_start_rule: int
    dst_end_rule: int


# ------------------------------------------------------------------ requests
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _day(text: str | None, field: str) -> date:
    if text is None or not _DATE.fullmatch(text.strip()):
        raise InvalidExport(field, "must be a date, YYYY-MM-DD")
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidExport(field, f"not a calendar date: {text.strip()!r}") from None


def export_span(first: str | None, end: str | None, zone: ZoneInfo) -> ExportSpan:
    """Local days [first, end) from two YYYY-MM-DD dates; at most ``MAX_DAYS`` days."""
    first_day, end_day = _day(first, "from"), _day(end, "to")
    for day, field in ((first_day, "from"), (end_day, "to")):
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise InvalidExport(field, f"must be a date in the years {FIRST_YEAR} to {LAST_YEAR}")
    if end_day <= first_day:
        raise InvalidExport("to", "must be after from (to is the day after the last day exported)")
    if (end_day - first_day).days > MAX_DAYS:
        raise InvalidExport("to", f"the range is limited to {MAX_DAYS} days")
    return ExportSpan(first_day, end_day, zone)


def export_format(text: str | None) -> str:
    """``xml`` (Green Button) or ``csv``."""
    if text not in FORMATS:
        raise InvalidExport("format", "must be xml or csv")
    return text


def export_filename(house_id: str, span: ExportSpan, fmt: str) -> str:
    """``usage-<house>-<first day>-to-<last day>.<xml|csv>`` (days inclusive, local)."""
    house = re.sub(r"[^A-Za-z0-9._-]", "_", house_id)
    return f"usage-{house}-{span.first_day.isoformat()}-to-{span.last_day.isoformat()}.{fmt}"


def render(span: ExportSpan, rows: Iterable[Mapping[str, object]], *, house_id: str, fmt: str) -> Export:
    """The file of ``rows`` (hourly usage rows) in ``fmt``."""
    hours = _hours(span, rows)
    body = render_xml(span, hours, house_id=house_id) if fmt == "xml" else render_csv(span, hours)
    return Export(body=body, media_type=MEDIA_TYPES[fmt], filename=export_filename(house_id, span, fmt))


# ----------------------------------------------------------------------- CSV
def render_csv(span: ExportSpan, hours: Iterable[UsageHour | Mapping[str, object]]) -> bytes:
    """One row per metered hour: local start with offset, UTC start, Wh of each usage measure."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["local_start", "utc_start", *CSV_MEASURES])
    for hour in _hours(span, hours):
        writer.writerow([
            hour.start.astimezone(span.zone).isoformat(), _utc_text(hour.start),
            *(hour.wh.get(column, 0) for column in CSV_MEASURES),
        ])
    return out.getvalue().encode()


# ----------------------------------------------------------------------- XML
def render_xml(span: ExportSpan, hours: Iterable[UsageHour | Mapping[str, object]], *, house_id: str) -> bytes:
    """The Green Button (ESPI) Atom feed of the house's hourly home consumption and solar production."""
    hours = _hours(span, hours)
    updated = _utc_text(hours[-1].start + timedelta(seconds=HOUR_S) if hours else span.start)
    customer_id = quote(house_id, safe="")
    customer = f"{BASE}/RetailCustomer/{customer_id}"
    usage_point = f"{customer}/UsagePoint/1"
    local_time = f"{BASE}/LocalTimeParameters/1"
    params = local_time_parameters(span.zone, span.first_day.year)
    days = _by_local_day(span, hours)
    range_text = f"{span.first_day.isoformat()} to {span.last_day.isoformat()}"

    def entry_id(*key: object) -> str:
        return f"urn:uuid:{uuid.uuid5(ID_NAMESPACE, '|'.join(map(str, (house_id, *key))))}"

    def entry(key: tuple, *, self_href: str, up_href: str, related: Iterable[str] = (), title: str | None,
              content: str) -> str:
        links = [f'<link rel="self" href={quoteattr(self_href)}/>', f'<link rel="up" href={quoteattr(up_href)}/>']
        links.extend(f'<link rel="related" href={quoteattr(href)}/>' for href in related)
        heading = f"<title>{escape(title)}</title>" if title else ""
        return (
            f"<entry><id>{entry_id(*key)}</id>{''.join(links)}{heading}<content>{content}</content>"
            f"<published>{updated}</published><updated>{updated}</updated></entry>"
        )

    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        f'<feed xmlns="{ATOM_NS}" xmlns:espi="{ESPI_NS}">',
        f"<id>{entry_id('feed', span.first_day.isoformat(), span.end_day.isoformat())}</id>",
        f"<title>{escape(f'Green Button usage of {house_id}, {range_text} ({span.zone.key})')}</title>",
        f"<updated>{updated}</updated>",
        f'<link rel="self" href={quoteattr(f"{BASE}/Batch/RetailCustomer/{customer_id}/UsagePoint")}/>',
        entry(
            ("UsagePoint",), self_href=usage_point, up_href=f"{customer}/UsagePoint",
            related=(f"{usage_point}/MeterReading", local_time), title=f"{house_id} electricity",
            content=(
                f"<espi:UsagePoint><espi:ServiceCategory><espi:kind>{SERVICE_ELECTRICITY}</espi:kind>"
                "</espi:ServiceCategory><espi:status>1</espi:status></espi:UsagePoint>"
            ),
        ),
        entry(
            ("LocalTimeParameters", span.zone.key), self_href=local_time, up_href=f"{BASE}/LocalTimeParameters",
            title=span.zone.key,
            content=(
                f"<espi:LocalTimeParameters><espi:dstEndRule>{params.dst_end_rule:08X}</espi:dstEndRule>"
                f"<espi:dstOffset>{params.dst_offset}</espi:dstOffset>"
                f"<espi:dstStartRule>{params.dst_start_rule:08X}</espi:dstStartRule>"
                f"<espi:tzOffset>{params.tz_offset}</espi:tzOffset></espi:LocalTimeParameters>"
            ),
        ),
    ]
    for number, measure in enumerate(FEED_MEASURES, start=1):
        meter_reading = f"{usage_point}/MeterReading/{number}"
        reading_type = f"{BASE}/ReadingType/{number}"
        parts.append(entry(
            ("MeterReading", measure.column), self_href=meter_reading, up_href=f"{usage_point}/MeterReading",
            related=(f"{meter_reading}/IntervalBlock", reading_type), title=measure.title,
            content="<espi:MeterReading/>",
        ))
        parts.append(entry(
            ("ReadingType", measure.column), self_href=reading_type, up_href=f"{BASE}/ReadingType",
            title=f"Hourly {measure.title.lower()} (Wh)",
            content=(
                f"<espi:ReadingType><espi:accumulationBehaviour>{ACCUMULATION_DELTA}</espi:accumulationBehaviour>"
                f"<espi:commodity>{COMMODITY_ELECTRICITY}</espi:commodity>"
                f"<espi:dataQualifier>{DATA_QUALIFIER_NORMAL}</espi:dataQualifier>"
                f"<espi:flowDirection>{measure.flow_direction}</espi:flowDirection>"
                f"<espi:intervalLength>{HOUR_S}</espi:intervalLength><espi:kind>{KIND_ENERGY}</espi:kind>"
                f"<espi:phase>{PHASE_S1S2N}</espi:phase><espi:powerOfTenMultiplier>0</espi:powerOfTenMultiplier>"
                f"<espi:timeAttribute>{TIME_ATTRIBUTE_NONE}</espi:timeAttribute><espi:uom>{UOM_WH}</espi:uom>"
                "</espi:ReadingType>"
            ),
        ))
        for block, (day, day_hours) in enumerate(days, start=1):
            day_start, day_end = _midnight(day, span.zone), _midnight(day + timedelta(days=1), span.zone)
            readings = "".join(
                f"<espi:IntervalReading><espi:timePeriod><espi:duration>{HOUR_S}</espi:duration>"
                f"<espi:start>{_epoch(h.start)}</espi:start></espi:timePeriod>"
                f"<espi:value>{h.wh.get(measure.column, 0)}</espi:value></espi:IntervalReading>"
                for h in day_hours
            )
            parts.append(entry(
                ("IntervalBlock", measure.column, _epoch(day_start)),
                self_href=f"{meter_reading}/IntervalBlock/{block}", up_href=f"{meter_reading}/IntervalBlock",
                title=None,
                content=(
                    f"<espi:IntervalBlock><espi:interval><espi:duration>{_epoch(day_end) - _epoch(day_start)}"
                    f"</espi:duration><espi:start>{_epoch(day_start)}</espi:start></espi:interval>"
                    f"{readings}</espi:IntervalBlock>"
                ),
            ))
    parts.append("</feed>\n")
    return "".join(parts).encode()


# ------------------------------------------------------------ local time rules
def local_time_parameters(zone: ZoneInfo, year: int) -> LocalTimeParameters:
    """The zone's standard offset, DST offset and DST start/end rules, as in force from ``year``.

    A rule is ESPI's 32-bit code: bits 28-31 month, 25-27 operator, 20-24 day of month,
    17-19 day of week (Monday 1 .. Sunday 7), 12-16 hour, 0-11 seconds, the local wall
    time before the change. The operator is found from three consecutive years: 7 when
    the change is on the last such weekday of the month each year, 2-6 on its first to
    fifth occurrence, 0 on a fixed day of the month. America/Los_Angeles since 2007:
    start 360E2000 (second Sunday of March, 02:00), end B40E2000 (first Sunday of
    November, 02:00), DST offset 3600, standard offset -28800. A zone without DST has
    offset 0 and both rules FFFFFFFF (rule processing disabled).
    """
    per_year = [_transitions(zone, y) for y in (year, year + 1, year + 2)]
    if not any(per_year):
        offset = datetime(year, 1, 1, tzinfo=UTC).astimezone(zone).utcoffset()
        return LocalTimeParameters(int(offset.total_seconds()), 0, DST_DISABLED, DST_DISABLED)
    if any(len(t) != 2 for t in per_year):
        raise ValueError(f"{zone.key}: not two DST changes a year in {year}..{year + 2}")
    starts = [next(t for t in changes if t[2] > t[1]) for changes in per_year]
    ends = [next(t for t in changes if t[2] < t[1]) for changes in per_year]
    standard, daylight = starts[0][1], starts[0][2]
    if any((s[1], s[2]) != (standard, daylight) or (e[1], e[2]) != (daylight, standard) for s, e in zip(starts, ends)):
        raise ValueError(f"{zone.key}: offsets change between {year} and {year + 2}")
    return LocalTimeParameters(
        tz_offset=standard, dst_offset=daylight - standard,
        dst_start_rule=_rule(zone, starts), dst_end_rule=_rule(zone, ends),
    )


def _transitions(zone: ZoneInfo, year: int) -> list[tuple[int, int, int]]:
    """(epoch second the new offset begins, offset before, offset after) of each change in ``year``."""

    def offset(epoch: int) -> int:
        return int(datetime.fromtimestamp(epoch, UTC).astimezone(zone).utcoffset().total_seconds())

    first = int(datetime(year, 1, 1, tzinfo=UTC).timestamp())
    last = int(datetime(year + 1, 1, 1, tzinfo=UTC).timestamp())
    out = []
    at, current = first, offset(first)
    while at < last:
        following = min(at + 86400, last)
        after = offset(following)
        if after != current:
            low, high = at, following  # offset(low) is the old one, offset(high) the new one
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (middle, high) if offset(middle) == current else (low, middle)
            out.append((high, current, after))
        at, current = following, after
    return out


def _rule(zone: ZoneInfo, changes: list[tuple[int, int, int]]) -> int:
    """The one ESPI rule that gives each year's change (local wall time before it)."""
    walls = [datetime.fromtimestamp(at + before, UTC).replace(tzinfo=None) for at, before, _ in changes]
    first = walls[0]
    same = len({(w.month, w.hour, w.minute, w.second) for w in walls}) == 1
    if same and len({w.isoweekday() for w in walls}) == 1:
        if all((w + timedelta(days=7)).month != w.month for w in walls):
            return _code(first, operator=7, day_of_month=0, day_of_week=first.isoweekday())
        ordinals = {(w.day - 1) // 7 + 1 for w in walls}
        if len(ordinals) == 1:
            return _code(first, operator=ordinals.pop() + 1, day_of_month=0, day_of_week=first.isoweekday())
    if same and len({w.day for w in walls}) == 1:
        return _code(first, operator=0, day_of_month=first.day, day_of_week=0)
    raise ValueError(f"{zone.key}: the DST change follows no ESPI rule ({', '.join(map(str, walls))})")


def _code(wall: datetime, *, operator: int, day_of_month: int, day_of_week: int) -> int:
    return (
        wall.month << 28 | operator << 25 | day_of_month << 20 | day_of_week << 17 | wall.hour << 12
        | (wall.minute * 60 + wall.second)
    )


# ----------------------------------------------------------------- helpers
def _exact(column: str, value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{column}: energy must be an integer number of Wh, got {value!r}")
    return value


def _hours(span: ExportSpan, rows: Iterable[UsageHour | Mapping[str, object]]) -> list[UsageHour]:
    """The rows as hours in time order; each must start on the hour inside the span, once."""
    hours = sorted((r if isinstance(r, UsageHour) else UsageHour.of(r) for r in rows), key=lambda h: h.start)
    start, end = span.start, span.end
    previous = None
    for hour in hours:
        if not start <= hour.start < end or _epoch(hour.start) % HOUR_S:
            raise ValueError(f"hour {hour.start.isoformat()} is not a whole hour in [{start}, {end})")
        if hour.start == previous:
            raise ValueError(f"hour {hour.start.isoformat()} given twice")
        previous = hour.start
    return hours


def _by_local_day(span: ExportSpan, hours: list[UsageHour]) -> list[tuple[date, list[UsageHour]]]:
    days: dict[date, list[UsageHour]] = {}
    for hour in hours:
        days.setdefault(hour.start.astimezone(span.zone).date(), []).append(hour)
    return sorted(days.items())


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), zone).astimezone(UTC)


def _epoch(instant: datetime) -> int:
    return int(instant.timestamp())


def _utc_text(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = [
    "CSV_MEASURES", "FEED_MEASURES", "MAX_DAYS", "Export", "ExportSpan", "InvalidExport", "LocalTimeParameters",
    "Measure", "UsageHour", "export_filename", "export_format", "export_span", "local_time_parameters", "render",
    "render_csv", "render_xml",
]
