"""The one consumer lifecycle of every worker (and of the ledger's API when it consumes).

- `decode_or_skip`: decode each record; an undecodable one is counted, logged and skipped.
- `Stream`: a consumer and its loop. `handled` builds the usual loop: poll, handle the
  batch (its effects durable when it returns), commit the offsets (a rebalance that got
  there first is not an error: the new owner re-reads), then the follow-up step (e.g. the
  outbox relay). A failed batch is retried from the committed offsets after a pause.
- `run_streams`: start every consumer, run every loop and the periodic steps until
  ``stop``; when one loop ends or fails the others are stopped too (each finishes the
  batch in flight), and every consumer is stopped in ``finally``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer

from energychain_shared import events
from energychain_shared.kafka import commit_after_effects, pause_unless_stopped, poll_until_stopped

log = logging.getLogger(__name__)
T = TypeVar("T")


def decode_or_skip(
    records: Iterable[Any], *, topic: str, undecodable: Any, logger: logging.Logger,
    decode: Callable[[bytes], T] = events.decode,
) -> list[T]:
    """The decoded events of ``records`` in order; each undecodable one increments ``undecodable.labels(topic)``."""
    out = []
    for record in records:
        try:
            out.append(decode(record.value))
        except events.EventDecodeError as error:
            undecodable.labels(topic).inc()
            logger.warning(
                "undecodable record skipped",
                extra={"topic": topic, "offset": getattr(record, "offset", None), "reason": str(error)},
            )
    return out


@dataclass(frozen=True)
class Stream:
    """A consumer and the loop that drives it until the stop event is set."""

    consumer: AIOKafkaConsumer
    run: Callable[[asyncio.Event], Awaitable[None]]


def handled(
    consumer: AIOKafkaConsumer, handle: Callable[[dict], Awaitable[Any]], *,
    after: Callable[[], Awaitable[Any]] | None = None, what: str = "batch",
) -> Stream:
    """The usual loop: poll, ``handle`` (effects durable on return), commit, then ``after``; retried from commits."""

    async def on_batches(batches: dict) -> None:
        await handle(batches)
        await commit_after_effects(consumer)
        if after is not None:
            await after()

    async def run(stop: asyncio.Event) -> None:
        await poll_until_stopped(consumer, stop, on_batches, what=what)

    return Stream(consumer, run)


def serialized(step: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
    """``step`` made to run one call at a time within this process (e.g. settle, then relay the outbox)."""
    lock = asyncio.Lock()

    async def once() -> Any:
        async with lock:
            return await step()

    return once


async def periodically(stop: asyncio.Event, step: Callable[[], Awaitable[Any]], *, every_s: float) -> None:
    """Run ``step`` every ``every_s`` seconds until ``stop``, so work decided elsewhere never waits for traffic.

    A failing step is logged and tried again next time: what it works on (an outbox,
    scheduled steps) is durable.
    """
    while not stop.is_set():
        try:
            await step()
        except Exception:
            log.exception("periodic step failed; retrying")
        await pause_unless_stopped(stop, every_s)


async def run_streams(
    streams: Sequence[Stream], stop: asyncio.Event, *,
    every: Callable[[], Awaitable[Any]] | None = None, every_s: float = 1.0,
) -> None:
    """Start the consumers, run their loops (and ``every`` each ``every_s`` s) until ``stop``; stop them all."""
    started: list[AIOKafkaConsumer] = []

    async def until_stopped(stream: Stream) -> None:
        try:
            await stream.run(stop)
        finally:
            stop.set()  # one loop ending ends the others, each after the batch in flight

    try:
        for stream in streams:
            await stream.consumer.start()
            started.append(stream.consumer)
        tasks = [until_stopped(s) for s in streams]
        if every is not None:
            tasks.append(periodically(stop, every, every_s=every_s))
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
    finally:
        stop.set()
        for consumer in started:
            await consumer.stop()
