"""The live registry of one process: the seed file, then the ``program.registry`` topic folded on top.

Every service (every instance: the feed uses no consumer group) reads the topic from
its beginning, through the same `RegistryBook` rules, so all of them hold the same
registry after the same events, and a replay from the beginning builds it again.
`sync` reads the topic to the end it has now: a service that meets a house it does
not know calls it before deciding (the enrolment was published before the house's
first reading, so the house is known after it). `follow` syncs every
``registry_refresh_s``; listeners hear each change (the ledger creates channels).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import TopicPartition

from energychain_shared import events, topics
from energychain_shared.kafka import ensure_topics, make_consumer
from energychain_shared.registry import Registry, RegistryBook, RegistryRefusal, load_registry
from energychain_shared.settings import CommonSettings

log = logging.getLogger(__name__)
RegistryChange = (events.MunicipalityOnboarded | events.ResidentEnrolled | events.ContractAmended | events.HouseMoved
                  | events.ContractEnded)
Listener = Callable[[Registry, Sequence[RegistryChange]], Any]


def apply_change(book: RegistryBook, change: events.Event) -> bool:
    """Apply one registry event to ``book``; True when it changed something."""
    if isinstance(change, events.MunicipalityOnboarded):
        return book.onboard(change.municipality)
    if isinstance(change, events.ResidentEnrolled):
        return book.enrol(change.resident)
    if isinstance(change, events.ContractAmended):
        return book.amend(change.house_id, change.amendment)
    if isinstance(change, events.HouseMoved):
        return book.move(change.house_id, change.move)
    if isinstance(change, events.ContractEnded):
        return book.end_contract(change.house_id, change.end_date)
    return False


def seed_registry(settings: CommonSettings) -> Registry:
    """The seed file when there is one; an empty registry otherwise (everything comes from the topic)."""
    if settings.registry_path.exists():
        return load_registry(settings.registry_path)
    return Registry(municipalities=(), residents=())


class RegistryFeed:
    """The registry as of the last `sync`, and the consumer that keeps it current."""

    def __init__(self, settings: CommonSettings, base: Registry | None = None, *, client_id: str = "registry-feed"):
        self.settings = settings
        self.book = RegistryBook(seed_registry(settings) if base is None else base)
        self.registry = self.book.snapshot()
        self.applied = 0
        self._listeners: list[Listener] = []
        self._client_id = client_id
        self._consumer = None
        self._partition = TopicPartition(settings.topic(topics.PROGRAM_REGISTRY), 0)
        self._lock = asyncio.Lock()
        self._synced_at = float("-inf")

    def listen(self, listener: Listener) -> None:
        """Call ``listener(registry, changes)`` (a function or a coroutine function) after each change."""
        self._listeners.append(listener)

    async def start(self) -> RegistryFeed:
        """Connect and read the topic to its end."""
        await ensure_topics(self.settings, [topics.PROGRAM_REGISTRY])
        # A short fetch wait: `sync` asks for the end offset, which waits for the fetch in flight (500 ms by default).
        self._consumer = make_consumer(self.settings, group_id=None, client_id=self._client_id, fetch_max_wait_ms=50)
        await self._consumer.start()
        self._consumer.assign([self._partition])
        await self._consumer.seek_to_beginning(self._partition)
        await self.sync()
        return self

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def __aenter__(self) -> RegistryFeed:
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    async def sync(self, *, max_age_s: float = 0) -> int:
        """Read and apply every change published before this call; returns how many changed the registry.
        With ``max_age_s``, a sync that ended less than that long ago stands (nothing is read)."""
        if max_age_s and time.monotonic() - self._synced_at < max_age_s:
            return 0
        async with self._lock:
            end = (await self._consumer.end_offsets([self._partition]))[self._partition]
            changed: list[RegistryChange] = []
            while await self._consumer.position(self._partition) < end:
                batches = await self._consumer.getmany(self._partition, timeout_ms=1000)
                for record in batches.get(self._partition, []):
                    try:
                        change = events.decode(record.value)
                        if apply_change(self.book, change):
                            changed.append(change)
                    except (events.EventDecodeError, RegistryRefusal) as error:
                        # Every service skips the same record the same way (one order): the first wins.
                        log.warning("registry change skipped", extra={"offset": record.offset, "reason": str(error)})
            if changed:
                self.registry = self.book.snapshot()
                self.applied += len(changed)
                for listener in self._listeners:
                    outcome = listener(self.registry, changed)
                    if inspect.isawaitable(outcome):
                        await outcome
            self._synced_at = time.monotonic()
            return len(changed)

    async def knows_all(self, house_ids: set[str]) -> bool:
        """Whether every house is registered, after reading the topic to its end if one is not yet."""
        by_house = self.registry.by_house
        if all(h in by_house for h in house_ids):
            return True
        await self.sync()
        by_house = self.registry.by_house
        return all(h in by_house for h in house_ids)

    async def follow(self) -> None:
        """Sync every ``registry_refresh_s`` until cancelled (a failed read is logged and tried again)."""
        while True:
            await asyncio.sleep(self.settings.registry_refresh_s)
            try:
                await self.sync()
            except Exception:
                log.exception("reading the program registry failed; retrying")


class FollowsRegistry:
    """For a service's context (a dataclass with ``registry`` and ``feed`` fields): the registry it holds is
    the feed's latest, and what it derived from the registry (``registry_derived``: attribute names, e.g.
    cached properties) is computed again after a change."""

    registry_derived: tuple[str, ...] = ()

    def use_registry(self, registry: Registry, _changes: Sequence[RegistryChange] = ()) -> None:
        """Hold ``registry`` from now on."""
        self.registry = registry
        for name in self.registry_derived:
            self.__dict__.pop(name, None)

    def follow(self, feed: RegistryFeed) -> None:
        """Hold ``feed``'s registry now and after every change it reads."""
        self.feed = feed
        self.use_registry(feed.registry)
        feed.listen(self.use_registry)

    async def knows_all(self, house_ids: set[str]) -> bool:
        """Whether every house is registered (reading the registry topic to its end first when needed)."""
        if self.feed is None:
            by_house = self.registry.by_house
            return all(h in by_house for h in house_ids)
        return await self.feed.knows_all(house_ids)


async def started_feed(settings: CommonSettings, *, client_id: str) -> RegistryFeed:
    """A feed of the seed file and the topic, read to its end."""
    return await RegistryFeed(settings, client_id=client_id).start()
