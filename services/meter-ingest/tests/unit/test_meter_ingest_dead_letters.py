"""Dead letters as an operator tool: folding what the topics hold, filtering, and reading a corrected row as the replay does."""

from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiokafka.structs import ConsumerRecord
from energychain_shared import events

from energychain_meter_ingest.adapters.csv_source import HouseSource, row_fields, rows_before
from energychain_meter_ingest.adapters.dead_letters import fold_record
from energychain_meter_ingest.adapters.wire import reading_event, redriven_event
from energychain_meter_ingest.domain.dead_letters import (
    LEDGER_APPEND,
    READING,
    CorrectionRejected,
    DeadLetter,
    DeadLetterBook,
    DeadLetterQuery,
    InvalidQuery,
    Listed,
    RedriveRefused,
    Resolution,
    UnknownDeadLetter,
    read_correction,
    redrivable,
)
from energychain_meter_ingest.domain.readings import HEADER, MeterFileParser, ValidationPolicy

pytestmark = pytest.mark.unit
UTC = timezone.utc
LA = ZoneInfo("America/Los_Angeles")
T0 = datetime(2021, 7, 1, 8, tzinfo=UTC)


def letter(id: str = "dl-1", *, kind: str = READING, reason: str = "negative_value", hours: int = 0,
           line: int = 2, position: str = "meter.readings.dlq:0:0") -> DeadLetter:
    return DeadLetter(
        id=id, kind=kind, reason=reason, detail="why", occurred_at=T0 + timedelta(hours=hours),
        dead_lettered_at=datetime(2026, 12, 1, tzinfo=UTC), position=position, house_id="house-01",
        source_file="house-01.csv", source_line=line, raw="2021-07-01T00:00:00,0,0,0,-0.5,0,0.5,40",
    )


def resolution(dead_letter_id: str = "dl-1", *, reading: str = "r-1", line: int = 2, raw: str = "fixed") -> Resolution:
    return Resolution(dead_letter_id=dead_letter_id, reading_event_id=reading, house_id="house-01",
                      source_file="house-01.csv", source_line=line, raw=raw, redriven_by="gsa-operator",
                      resolved_at=datetime(2026, 12, 2, tzinfo=UTC))


# ---------------------------------------------------------------------------------------------- folding
def test_a_dead_letter_read_again_is_listed_once_and_keeps_its_resolution():
    book = DeadLetterBook()
    book.add(letter(position="meter.readings.dlq:3:10"))
    book.resolve(resolution())
    book.add(letter(position="meter.readings.dlq:3:99"))  # the same row, dead-lettered again by a later replay
    selection = book.select(DeadLetterQuery(), limit=10)
    assert selection.total == 1 and selection.unresolved == 0
    (listed,) = selection.listed
    assert listed.letter.position == "meter.readings.dlq:3:99"
    assert listed.resolution == resolution()


def test_a_marker_read_before_its_dead_letter_still_resolves_it():
    book = DeadLetterBook()
    book.resolve(resolution())
    assert book.get("dl-1") is None
    book.add(letter())
    assert book.get("dl-1") == Listed(letter(), resolution())


def test_the_first_marker_of_a_dead_letter_is_its_resolution():
    book = DeadLetterBook()
    book.add(letter())
    book.resolve(resolution(reading="r-first"))
    book.resolve(resolution(reading="r-second"))
    assert book.get("dl-1").resolution.reading_event_id == "r-first"


def test_dead_letters_are_filtered_by_kind_reason_and_a_half_open_event_time_range():
    book = DeadLetterBook()
    book.add(letter("a", reason="negative_value", hours=0))
    book.add(letter("b", reason="unparsable_number", hours=1))
    book.add(letter("c", reason="negative_value", hours=2))
    book.add(letter("d", kind=LEDGER_APPEND, reason="conflicting_entry", hours=1))

    def ids(**query) -> list[str]:
        return [listed.letter.id for listed in book.select(DeadLetterQuery(**query), limit=10).listed]

    assert ids(kind=READING) == ["c", "b", "a"]
    assert ids(kind=LEDGER_APPEND) == ["d"]
    assert ids(reason="negative_value") == ["c", "a"]
    # since is inclusive, until exclusive (event time is the end of the row's hour).
    assert sorted(ids(since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=2))) == ["b", "d"]
    assert ids(kind=READING, reason="negative_value", since=T0 + timedelta(minutes=1)) == ["c"]


def test_the_listing_is_newest_first_and_its_counts_cover_every_match_beyond_the_limit():
    book = DeadLetterBook()
    for hour in range(5):
        book.add(letter(f"r{hour}", reason="negative_value" if hour % 2 else "missing_fields", hours=hour, line=hour + 2))
    book.resolve(resolution("r3"))
    selection = book.select(DeadLetterQuery(), limit=2)
    assert [listed.letter.id for listed in selection.listed] == ["r4", "r3"]
    assert selection.total == 5 and selection.unresolved == 4
    assert selection.by_reason == {"missing_fields": 3, "negative_value": 2}


@pytest.mark.parametrize(("query", "field", "message"), [
    (dict(kind="readings"), "kind", "must be one of reading, ledger_append"),
    (dict(since=datetime(2021, 7, 1)), "since", "must carry a time zone"),
    (dict(until=datetime(2021, 7, 1)), "until", "must carry a time zone"),
    (dict(since=T0, until=T0), "until", "must be later than since"),
])
def test_a_query_refuses_an_unknown_kind_a_time_without_zone_and_an_empty_range_naming_the_filter(query, field, message):
    with pytest.raises(InvalidQuery) as refused:
        DeadLetterQuery(**query)
    assert (refused.value.field, refused.value.message) == (field, message)


def test_corrections_are_the_rows_already_redriven_for_that_house_and_file_only():
    book = DeadLetterBook()
    book.resolve(resolution("a", line=4, raw="row four"))
    book.resolve(resolution("b", line=7, raw="row seven"))
    book.resolve(Resolution(dead_letter_id="c", reading_event_id="r", house_id="house-01", source_file="other.csv",
                            source_line=5, raw="elsewhere", redriven_by="op", resolved_at=T0))
    assert book.corrections(house_id="house-01", source_file="house-01.csv") == {4: "row four", 7: "row seven"}


def record(topic: str, event: events.Event, *, offset: int = 7, timestamp_ms: int = 1_764_547_200_000) -> ConsumerRecord:
    raw = events.encode(event)
    return ConsumerRecord(topic=topic, partition=2, offset=offset, timestamp=timestamp_ms, timestamp_type=1,
                          key=None, value=raw, checksum=None, serialized_key_size=0,
                          serialized_value_size=len(raw), headers=())


def test_both_topics_dead_letters_and_the_markers_fold_into_the_book_with_broker_time_and_position():
    book = DeadLetterBook()
    rejected = events.MeterReadingRejected(
        event_id="dl-1", occurred_at=T0, producer="meter-ingest", source_file="house-01.csv", source_line=5,
        reason="negative_value", detail="HOME CONSUMPTION (kWh): -0.5 kWh is negative", raw="x,y", house_id="house-01",
    )
    refused = events.LedgerAppendRejected(
        event_id="dl-2", occurred_at=T0, producer="ledger", entry_id="invoice-1", reason="bad_signature",
        detail="signature does not verify", request={"producer": "billing", "entry_id": "invoice-1"},
    )
    marker = events.MeterReadingRedriven(
        event_id=events.MeterReadingRedriven.id_for("dl-1"), occurred_at=T0, producer="meter-ingest",
        dead_letter_id="dl-1", reading_event_id="r-1", house_id="house-01", source_file="house-01.csv", source_line=5,
        raw="fixed", redriven_by="gsa-operator",
    )
    clock = events.SimulatedClockAdvanced(event_id="c", occurred_at=T0, producer="meter-ingest", replay_id="x",
                                          sim_time=T0, speed=None)
    assert fold_record(book, record("p.meter.readings.dlq", rejected), rejected)
    assert fold_record(book, record("p.ledger.appends.dlq", refused, offset=8), refused)
    assert fold_record(book, record("p.meter.readings.dlq", marker, offset=9), marker)
    assert not fold_record(book, record("p.meter.readings.dlq", clock), clock)

    reading = book.get("dl-1")
    assert reading.letter.kind == READING and reading.letter.source_line == 5 and reading.letter.raw == "x,y"
    assert reading.letter.position == "p.meter.readings.dlq:2:7"
    assert reading.letter.dead_lettered_at == datetime(2025, 12, 1, tzinfo=UTC)
    assert reading.resolution.reading_event_id == "r-1" and reading.resolution.redriven_by == "gsa-operator"
    append = book.get("dl-2")
    assert append.letter.kind == LEDGER_APPEND and append.resolution is None
    assert (append.letter.producer, append.letter.entry_id) == ("billing", "invoice-1")
    assert len(book) == 2


# ---------------------------------------------------------------------------------------------- re-driving
def test_only_an_unresolved_reading_dead_letter_can_be_redriven():
    with pytest.raises(UnknownDeadLetter):
        redrivable(None, "nope")
    with pytest.raises(RedriveRefused) as refused:
        redrivable(Listed(letter(kind=LEDGER_APPEND, reason="bad_signature"), None), "dl-1")
    assert refused.value.rule == "not_a_reading"
    with pytest.raises(RedriveRefused) as refused:
        redrivable(Listed(letter(), resolution()), "dl-1")
    assert refused.value.rule == "already_redriven" and "r-1" in refused.value.message
    assert redrivable(Listed(letter(), None), "dl-1") == letter()


def parser() -> MeterFileParser:
    return MeterFileParser(house_id="house-01", zone=LA, policy=ValidationPolicy(), source_file="house-01.csv")


def test_a_corrected_row_of_the_repeated_fall_back_hour_is_read_as_standard_time_as_the_replay_reads_it():
    earlier = [(2, row_fields("2021-11-07T00:00:00,0,0,0,0.5,0,0.5,40")),
               (3, row_fields("2021-11-07T01:00:00,0,0,0,0.5,0,0.5,40"))]
    corrected = row_fields("2021-11-07T01:00:00,0,0,0,0.6,0,0.6,40")
    in_context = read_correction(parser(), earlier_rows=earlier, line=4, fields=corrected)
    alone = read_correction(parser(), earlier_rows=[], line=4, fields=corrected)
    # 01:00 PST is 09:00 UTC; read alone, the same text would be 01:00 PDT (08:00 UTC), the hour of line 3.
    assert in_context.interval_start == datetime(2021, 11, 7, 9, tzinfo=UTC)
    assert alone.interval_start == datetime(2021, 11, 7, 8, tzinfo=UTC)
    assert (in_context.source_file, in_context.source_line, in_context.home_wh) == ("house-01.csv", 4, 600)


@pytest.mark.parametrize(("raw", "rule", "field"), [
    ("2021-07-01T01:00:00,0,0,0,0.5,0,0.5,101", "battery_level_out_of_range", "raw"),
    ("2021-07-01T01:00:00,0,0,0,-0.5,0,0.5,40", "negative_value", "raw"),
    ("2021-07-01T01:00:00,0,0,0,0.5,0,0.5", "missing_fields", "raw"),
    ("2021-07-01T00:00:00,0,0,0,0.9,0,0.9,40", "conflicting_duplicate", "raw"),
    ("2021-07-01T00:00:00,0,0,0,0.5,0,0.5,40", "already_recorded", "raw"),
])
def test_a_corrected_row_the_replay_would_not_publish_is_refused_naming_why(raw, rule, field):
    earlier = [(2, row_fields("2021-07-01T00:00:00,0,0,0,0.5,0,0.5,40"))]
    with pytest.raises(RedriveRefused) as refused:
        read_correction(parser(), earlier_rows=earlier, line=3, fields=row_fields(raw))
    assert (refused.value.rule, refused.value.field) == (rule, field)
    assert isinstance(refused.value, CorrectionRejected) == (rule != "already_recorded")


def test_the_rows_before_a_line_are_the_files_with_earlier_corrections_in_place(tmp_path: Path):
    path = tmp_path / "house-01.csv"
    path.write_text("\n".join([",".join(HEADER), "a,1", "b,bad", '"c,quoted",3', "d,4"]) + "\n")
    rows = list(rows_before(HouseSource("house-01", path), 5, corrections={3: "b,fixed", 5: "never read"}))
    assert rows == [(2, ["a", "1"]), (3, ["b", "fixed"]), (4, ["c,quoted", "3"])]


def test_the_marker_names_the_dead_letter_and_the_reading_the_replay_would_have_published():
    reading = read_correction(parser(), earlier_rows=[], line=9,
                              fields=row_fields("2021-07-01T03:00:00,0,0,0,0.5,0,0.5,40"))
    marker = redriven_event("dl-1", reading, raw="the row", operator="gsa-operator")
    assert marker.reading_event_id == reading_event(reading).event_id
    assert marker.event_id == redriven_event("dl-1", reading, raw="another", operator="x").event_id
    assert marker.partition_key == "house-01.csv"  # keyed like its dead letter: the same partition, in order
    assert events.decode(events.encode(marker)) == marker
