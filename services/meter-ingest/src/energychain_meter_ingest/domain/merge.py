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
