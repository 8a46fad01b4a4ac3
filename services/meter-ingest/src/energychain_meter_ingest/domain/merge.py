"""Time-ordered merge of many houses' reading streams, grouped into simulated hours."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from typing import Protocol


class HasHour(Protocol):
    hour: int


def merge_by_hour(streams: Iterable[Iterator[HasHour]]) -> Iterator[tuple[int, list]]:
    """Yield (hour, items) in hour order; holds one pending item per stream, so memory is flat in hours."""
    heap: list[tuple[int, int, object, Iterator]] = []
    for index, stream in enumerate(streams):
        first = next(stream, None)
        if first is not None:
            heap.append((first.hour, index, first, stream))
    heapq.heapify(heap)
    while heap:
        hour = heap[0][0]
        group = []
        while heap and heap[0][0] == hour:
            _, index, item, stream = heap[0]
            group.append(item)
            following = next(stream, None)
            if following is None:
                heapq.heappop(heap)
            else:
                heapq.heapreplace(heap, (following.hour, index, following, stream))
        yield hour, group


def run_clock_on(hours: Iterable[tuple[int, list]], *, after: int | None, until: int | None,
                 step: int = 3600) -> Iterator[tuple[int, list]]:
    """``hours`` (hour starts in order, with their items), then, once they run out, every hour after the last
    (or after ``after`` when there was none) up to ``until`` (exclusive) with no items: a replay asked to run
    until an instant brings the clock there even past its last reading, so what waits on the clock (an
    ended contract's final invoice, due dates) happens. Nothing is added without ``until`` or a start."""
    last = after
    for hour, items in hours:
        last = hour
        yield hour, items
    if until is not None and last is not None:
        for hour in range(last + step, until, step):
            yield hour, []
