"""Dead letters as the operator sees them: what was refused and why, which were resolved, and re-driving a row.

Two kinds: a meter row that failed validation (``reading``, on meter.readings.dlq) and an append the
ledger refused (``ledger_append``, on ledger.appends.dlq). The topics are the record; a
``DeadLetterBook`` folds what was read off them, dead letters and the markers that resolve them, in any
order and any number of times. A reading dead letter is resolved by re-driving its corrected row, read
exactly as the replay reads that line of its file; a refused ledger append is listed only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from energychain_meter_ingest.domain.readings import MeterFileParser, Reading, Rejection

READING = "reading"
LEDGER_APPEND = "ledger_append"
KINDS = (READING, LEDGER_APPEND)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One refused meter row or ledger append, as read off its topic.

    ``id`` is the dead letter's event id: a row dead-lettered again (its file replayed again) is the
    same dead letter. ``occurred_at`` is event time (the end of the row's hour, or the append's event
    time); ``dead_lettered_at`` is when the broker took it; ``position`` is topic:partition:offset of
    the copy read last.
    """

    id: str
    kind: str
    reason: str
    detail: str
    occurred_at: datetime
    dead_lettered_at: datetime
    position: str
    house_id: str | None = None
    source_file: str | None = None
    source_line: int | None = None
    raw: str | None = None
    entry_id: str | None = None
    producer: str | None = None
    request: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Resolution:
    """A reading dead letter's corrected row was published as the reading ``reading_event_id``."""

    dead_letter_id: str
    reading_event_id: str
    house_id: str
    source_file: str
    source_line: int
    raw: str
    redriven_by: str
    resolved_at: datetime


@dataclass(frozen=True, slots=True)
class Listed:
    """A dead letter and, when it was re-driven, what resolved it."""

    letter: DeadLetter
    resolution: Resolution | None


class InvalidQuery(ValueError):
    """A listing that cannot be asked for; ``field`` names the filter at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class DeadLetterQuery:
    """Which dead letters to list: of one kind, with one reason, with event time in [since, until)."""

    kind: str | None = None
    reason: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        if self.kind is not None and self.kind not in KINDS:
            raise InvalidQuery("kind", f"must be one of {', '.join(KINDS)}")
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise InvalidQuery(name, "must carry a time zone")
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise InvalidQuery("until", "must be later than since")

    def matches(self, letter: DeadLetter) -> bool:
        """True when ``letter`` is one of those asked for."""
        return (
            (self.kind is None or letter.kind == self.kind)
            and (self.reason is None or letter.reason == self.reason)
            and (self.since is None or letter.occurred_at >= self.since)
            and (self.until is None or letter.occurred_at < self.until)
        )


@dataclass(frozen=True, slots=True)
class Selection:
    """The dead letters a query found: the newest ``limit`` of them, and counts over all of them."""

    listed: list[Listed]
    total: int
    unresolved: int
    by_reason: dict[str, int]


class DeadLetterBook:
    """Every dead letter read so far and what resolved it; reading an event again changes nothing."""

    def __init__(self) -> None:
        self._letters: dict[str, DeadLetter] = {}
        self._resolutions: dict[str, Resolution] = {}

    def __len__(self) -> int:
        return len(self._letters)

    def add(self, letter: DeadLetter) -> None:
        """A dead letter; a later copy with its id replaces it (the same row, refused again), a resolution stays."""
        self._letters[letter.id] = letter

    def resolve(self, resolution: Resolution) -> None:
        """The first marker of a dead letter is its resolution; a later one changes nothing."""
        self._resolutions.setdefault(resolution.dead_letter_id, resolution)

    def get(self, dead_letter_id: str) -> Listed | None:
        """One dead letter by id, or None when none was read."""
        letter = self._letters.get(dead_letter_id)
        return None if letter is None else Listed(letter, self._resolutions.get(dead_letter_id))

    def select(self, query: DeadLetterQuery, *, limit: int) -> Selection:
        """The matching dead letters, newest event time first (ties: newest dead-lettered first)."""
        found = [letter for letter in self._letters.values() if query.matches(letter)]
        found.sort(key=lambda letter: (letter.occurred_at, letter.dead_lettered_at, letter.id), reverse=True)
        unresolved = sum(1 for letter in found if letter.id not in self._resolutions)
        by_reason = Counter(letter.reason for letter in found)
        return Selection(
            listed=[Listed(letter, self._resolutions.get(letter.id)) for letter in found[:limit]],
            total=len(found),
            unresolved=unresolved,
            by_reason=dict(sorted(by_reason.items())),
        )

    def corrections(self, *, house_id: str, source_file: str) -> dict[int, str]:
        """The corrected rows already re-driven for one house's file, by line."""
        return {
            r.source_line: r.raw
            for r in self._resolutions.values()
            if r.house_id == house_id and r.source_file == source_file
        }


class RedriveRefused(ValueError):
    """The dead letter cannot be re-driven (a conflict with what it is); ``rule`` names why."""

    def __init__(self, rule: str, message: str, *, field: str = "dead_letter_id") -> None:
        super().__init__(message)
        self.rule = rule
        self.field = field
        self.message = message


class UnknownDeadLetter(RedriveRefused):
    """No dead letter with that id was read off the topics."""

    def __init__(self, dead_letter_id: str) -> None:
        super().__init__("unknown_dead_letter", f"no dead letter {dead_letter_id}")


class CorrectionRejected(RedriveRefused):
    """The corrected row still fails validation; ``rule`` is the reason code the replay would dead-letter it with."""

    def __init__(self, rejection: Rejection) -> None:
        super().__init__(rejection.reason, f"{rejection.reason}: {rejection.detail}", field="raw")


def redrivable(listed: Listed | None, dead_letter_id: str) -> DeadLetter:
    """The reading dead letter to re-drive, or why it cannot be."""
    if listed is None:
        raise UnknownDeadLetter(dead_letter_id)
    letter = listed.letter
    if letter.kind != READING:
        raise RedriveRefused(
            "not_a_reading", f"a refused ledger append ({letter.reason}) is listed only; its producer sends it again"
        )
    if listed.resolution is not None:
        raise RedriveRefused(
            "already_redriven",
            f"already re-driven by {listed.resolution.redriven_by} as reading {listed.resolution.reading_event_id}",
        )
    if letter.house_id is None or letter.source_file is None or letter.source_line is None:
        raise RedriveRefused("no_source", "the dead letter names no house, file and line to read the row as")
    return letter


def read_correction(
    parser: MeterFileParser, *, earlier_rows: Iterable[tuple[int, list[str]]], line: int, fields: list[str]
) -> Reading:
    """The corrected row read as the replay reads that line: by a parser that has read the file's earlier rows.

    The earlier rows decide what the line means beyond its own text: whether a repeated fall-back
    hour is daylight or standard time, and whether the hour is a duplicate or out of order.
    """
    for earlier_line, earlier_fields in earlier_rows:
        parser.feed(earlier_line, earlier_fields)
    outcome = parser.feed(line, fields)
    if outcome is None:
        raise RedriveRefused(
            "already_recorded", "the corrected row repeats the reading of its hour already published", field="raw"
        )
    if isinstance(outcome, Rejection):
        raise CorrectionRejected(outcome)
    return outcome
