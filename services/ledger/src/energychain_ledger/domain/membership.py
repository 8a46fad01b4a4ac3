"""Channel membership by date: which municipality may see which entries of a resident channel.

A house belongs to the municipality it was enrolled in, then to each municipality it moved to, from
the local midnight of the move's date (the registry's `Resident.municipalities_from`). A move changes
the resident channel's membership from that instant: the old municipality keeps reading what happened
before it (event time ``occurred_at`` < the move) and nothing after; the new one reads from the move on.
Each piece is a `Span`: [start, end) in UTC, ``None`` meaning open (since the channel began, or still).
A municipality may hold several spans of one channel (a house that moves away and back).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timezone, tzinfo


@dataclass(frozen=True, slots=True)
class Span:
    """``municipality_id`` is a member of the channel for the event times in [start, end)."""

    municipality_id: str
    start: datetime | None = None  # inclusive; None: since the channel began
    end: datetime | None = None  # exclusive; None: still a member

    def __post_init__(self) -> None:
        for instant in (self.start, self.end):
            if instant is not None and instant.utcoffset() is None:
                raise ValueError("span bounds are timezone-aware instants")
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ValueError(f"an empty span: {self.start.isoformat()} is not before {self.end.isoformat()}")

    def covers(self, at: datetime) -> bool:
        """Whether the event time ``at`` falls inside the span."""
        return (self.start is None or at >= self.start) and (self.end is None or at < self.end)

    @property
    def unbounded(self) -> bool:
        """The span covers every event time."""
        return self.start is None and self.end is None


def local_midnight(day: date, zone: tzinfo) -> datetime:
    """The UTC instant of the local midnight that begins ``day`` in ``zone``."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(timezone.utc)


def membership_spans(pieces: Sequence[tuple[date | None, str]], zone: tzinfo) -> tuple[Span, ...]:
    """The spans of a resident channel from the house's municipalities by date.

    ``pieces`` is ``Resident.municipalities_from()``: (None, enrolment municipality) then (move date,
    municipality) in date order; ``zone`` is the municipalities' time zone (a move keeps it). Each
    span ends where the next begins, the last one is open.
    """
    if not pieces:
        return ()
    if pieces[0][0] is not None:
        raise ValueError("the first piece is the enrolment's (no date)")
    starts = [None, *(local_midnight(day, zone) for day, _ in pieces[1:] if day is not None)]
    if len(starts) != len(pieces):
        raise ValueError("every piece after the enrolment has a date")
    spans: list[Span] = []
    for index, (start, (_, municipality)) in enumerate(zip(starts, pieces)):
        end = starts[index + 1] if index + 1 < len(starts) else None
        if spans and spans[-1].municipality_id == municipality:  # not a move: the same span goes on
            spans[-1] = Span(municipality, spans[-1].start, end)
            continue
        spans.append(Span(municipality, start, end))  # raises when the dates do not go forward
    return tuple(spans)


def municipality_at(spans: Sequence[Span], at: datetime) -> str | None:
    """The municipality member of the channel for the event time ``at`` (None: none then)."""
    return next((s.municipality_id for s in spans if s.covers(at)), None)


def ever_members(spans: Iterable[Span]) -> set[str]:
    """Every municipality that was ever a member (the channel is listed for each)."""
    return {s.municipality_id for s in spans}


@dataclass(frozen=True, slots=True)
class Visibility:
    """Which event times a reader may see on a channel or an account.

    ``spans`` None: every event time; empty: none; otherwise those inside one of the spans.
    """

    spans: tuple[Span, ...] | None = None

    @property
    def everything(self) -> bool:
        return self.spans is None

    @property
    def nothing(self) -> bool:
        return self.spans == ()

    def __contains__(self, at: datetime) -> bool:
        return self.spans is None or any(s.covers(at) for s in self.spans)


EVERYTHING = Visibility(None)
NOTHING = Visibility(())


def municipality_visibility(spans: Sequence[Span], municipality_id: str) -> Visibility:
    """What ``municipality_id`` may see of a resident channel (and its house's accounts) with these spans:
    the event times of its own spans; everything when its span is the channel's whole life (a house that
    never moved); nothing when it was never a member."""
    own = tuple(s for s in spans if s.municipality_id == municipality_id)
    if not own:
        return NOTHING
    if any(s.unbounded for s in own):
        return EVERYTHING
    return Visibility(own)
