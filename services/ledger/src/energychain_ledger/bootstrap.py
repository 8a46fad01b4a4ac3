"""The one composition root: settings -> registry, engine, store, keys, consumers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from energychain_ledger.adapters.signatures import SignatureVerifier
from energychain_ledger.adapters.consumer import AppendConsumer, AppendProcessor
from energychain_ledger.adapters.readings import ReadingProcessor
from energychain_ledger.adapters.store import LedgerStore, ledger_engine
from energychain_ledger.domain.membership import Span, membership_spans
from energychain_ledger.settings import LedgerSettings
from energychain_ledger.verification import LogKeys
from energychain_shared import events, keys as key_files
from energychain_shared.channels import GSA_CHANNEL, municipality_channel, resident_channel
from energychain_shared.consumer import Stream, run_streams
from energychain_shared.kafka import make_consumer, make_producer
from energychain_shared.registry import Registry
from energychain_shared.registry_feed import RegistryChange, RegistryFeed, seed_registry, started_feed
from energychain_shared.tlog import note as notes
from energychain_shared.tlog.note import Checkpoint
from energychain_shared.topics import LEDGER_APPENDS, LEDGER_CHECKPOINTS, LEDGER_DEAD_LETTERS, METER_READINGS

log = logging.getLogger(__name__)
LEDGER_KEY = "ledger"  # the service key that signs checkpoints


def registry_channels(registry: Registry) -> list[str]:
    """Every channel the registry implies: the GSA's, each municipality's, each resident's."""
    return [
        GSA_CHANNEL,
        *(municipality_channel(m.municipality_id) for m in registry.municipalities),
        *(resident_channel(r.house_id) for r in registry.residents),
    ]


def registry_memberships(registry: Registry, houses: Collection[str] | None = None) -> dict[str, tuple[Span, ...]]:
    """Each resident channel's membership spans by date (of ``houses``, default every resident): the
    enrolment's municipality, then each move's from the local midnight of its date in the municipality's
    time zone (a move keeps the zone)."""
    residents = registry.residents if houses is None else [registry.by_house[h] for h in houses
                                                           if h in registry.by_house]
    return {resident_channel(r.house_id): membership_spans(
                r.municipalities_from(), registry.by_municipality[r.municipality_id].zone)
            for r in residents}


def moved_or_enrolled(changes: Sequence[RegistryChange]) -> set[str]:
    """The houses whose channel membership a batch of registry changes may change."""
    houses = {c.house_id for c in changes if isinstance(c, events.HouseMoved)}
    houses |= {c.resident.house_id for c in changes if isinstance(c, events.ResidentEnrolled)}
    return houses


def disk_public_keys(keys_dir: Path) -> dict[str, str]:
    """PEM of each producing service's public key found in ``keys_dir``."""
    found = {}
    for name in key_files.SERVICE_KEYS:
        if key_files.public_key_path(keys_dir, name).exists():
            found[name] = key_files.public_key_pem(key_files.load_public_key(keys_dir, name))
        else:
            log.warning("no public key for producer %s in %s (run `energychain-keys init`)", name, keys_dir)
    return found


def parse_keys(pems: Mapping[str, Sequence[str]]) -> dict[str, list[SignatureVerifier]]:
    """PEM text -> signature verifiers, per producer."""
    parsed: dict[str, list[SignatureVerifier]] = {}
    for service, texts in pems.items():
        for text in texts:
            key = serialization.load_pem_public_key(text.encode())
            if isinstance(key, Ed25519PublicKey):
                parsed.setdefault(service, []).append(SignatureVerifier(key))
    return parsed


def checkpoint_signer(origin: str, key: Ed25519PrivateKey):
    """Signs the checkpoint of a log of heads as a C2SP signed note under the key name ``origin``."""

    def sign(size: int, root: bytes) -> str:
        return notes.sign_note(notes.checkpoint_body(Checkpoint(origin, size, root)), name=origin, private_key=key)

    return sign


@dataclass
class Ledger:
    """Everything a ledger process needs, wired once."""

    settings: LedgerSettings
    registry: Registry
    store: LedgerStore
    keys: dict[str, list[SignatureVerifier]]
    feed: RegistryFeed | None = field(default=None, repr=False)
    _executor: ThreadPoolExecutor | None = field(default=None, repr=False)
    _memberships_due: set[str] = field(default_factory=set, repr=False)

    async def close(self) -> None:
        """Close the registry feed, the database engine and the verification threads."""
        if self.feed is not None:
            await self.feed.stop()
        if self._executor is not None:
            self._executor.shutdown(wait=False)
        await self.store.close()

    async def apply_registry(self, registry: Registry, changes: Sequence[RegistryChange] = ()) -> None:
        """Hold ``registry``: a house enrolled since gets its channel, a municipality its channel and membership;
        a house that moved gets its membership by date (the new municipality a member from the move on)."""
        self.registry = registry
        # Houses of a sync that failed are tried again with the next change (and all of them at the next start).
        self._memberships_due |= moved_or_enrolled(changes)
        self.store.learn_houses({r.house_id: r.municipality_id for r in registry.residents})
        await self.store.ensure_channels(registry_channels(registry))
        if self._memberships_due:
            await self.store.sync_memberships(registry_memberships(registry, self._memberships_due))
            self._memberships_due.clear()

    async def follow_registry(self) -> None:
        """Apply the registry topic's changes as they come (until cancelled); nothing without a feed."""
        if self.feed is not None:
            await self.feed.follow()

    def knows_house(self, house_id: str) -> bool:
        """Whether the registry (as last read) has the house."""
        return house_id in self.registry.by_house

    def verify_executor(self) -> ThreadPoolExecutor:
        """The threads that check signatures (created on first use)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.settings.ledger_verify_threads, thread_name_prefix="verify")
        return self._executor

    def log_public_key(self) -> Ed25519PublicKey:
        """The public key of the ledger's checkpoints."""
        return key_files.load_public_key(self.settings.resolved_keys_dir, LEDGER_KEY)

    def log_vkey(self) -> str:
        """The C2SP verifier key of the ledger's checkpoints (what witnesses and verifiers pin)."""
        return notes.verifier_key(self.settings.ledger_origin, self.log_public_key())

    async def log_keys(self) -> LogKeys:
        """What checkpoints are checked with: the ledger's key and the registered witnesses' keys."""
        witnesses = {}
        for witness in await self.store.witnesses():
            try:
                name, _, key = notes.parse_verifier_key(witness["vkey"])
                witnesses[name] = key
            except notes.NoteError:
                log.warning("witness %s has a malformed verifier key", witness["name"])
        return LogKeys(self.settings.ledger_origin, self.log_public_key(), witnesses)

    def token_private_key(self) -> Ed25519PrivateKey:
        """The private key that signs access tokens."""
        return key_files.load_private_key(self.settings.resolved_keys_dir, key_files.TOKEN_KEY)

    def token_public_key(self) -> Ed25519PublicKey:
        """The public key every service verifies tokens with."""
        return key_files.load_public_key(self.settings.resolved_keys_dir, key_files.TOKEN_KEY)

    def _processor(self, producer: AIOKafkaProducer, *, threads: bool) -> AppendProcessor:
        settings = self.settings
        return AppendProcessor(
            store=self.store, keys=self.keys, producer=producer,
            dead_letter_topic=settings.topic(LEDGER_DEAD_LETTERS), checkpoint_topic=settings.topic(LEDGER_CHECKPOINTS),
            executor=self.verify_executor() if threads else None, workers=settings.ledger_verify_threads,
        )

    def make_consumer(
        self, *, client_id: str = "ledger", group_id: str | None = None,
        latency_sink: list[float] | None = None, producer: AIOKafkaProducer,
    ) -> tuple[AIOKafkaConsumer, AppendConsumer]:
        """A Kafka consumer in the ledger's group and the loop that drives it (call inside a running loop)."""
        settings = self.settings
        kafka_consumer = make_consumer(
            settings, settings.topic(LEDGER_APPENDS),
            group_id=group_id or f"{settings.topic_prefix}{settings.ledger_consumer_group}", client_id=client_id,
            max_poll_records=settings.ledger_batch_max,
            fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=8 * 1024 * 1024,
        )
        loop = AppendConsumer(
            consumer=kafka_consumer, processor=self._processor(producer, threads=True),
            batch_max=settings.ledger_batch_max, poll_timeout_ms=settings.ledger_poll_timeout_ms,
            latency_sink=latency_sink,
        )
        return kafka_consumer, loop

    def make_readings_consumer(
        self, *, client_id: str = "ledger-readings", group_id: str | None = None, producer: AIOKafkaProducer,
        houses: Collection[str] | None = None, latency_sink: list[float] | None = None,
    ) -> tuple[AIOKafkaConsumer, AppendConsumer]:
        """A consumer of meter.readings recording each reading on its resident's channel (call inside a running loop).

        Its group (default ``<prefix><EC_LEDGER_CONSUMER_GROUP>-readings``, i.e. ``ledger-readings``)
        is separate from the append consumers', so several ``consume`` processes share the
        12 reading partitions between them. ``houses`` (default: the registry's residents) are
        the houses whose readings are recorded; the benchmark passes its own.
        """
        settings = self.settings
        kafka_consumer = make_consumer(
            settings, settings.topic(METER_READINGS),
            group_id=group_id or f"{settings.topic_prefix}{settings.ledger_consumer_group}-readings",
            client_id=client_id, max_poll_records=settings.ledger_batch_max,
            fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=8 * 1024 * 1024,
        )
        processor = ReadingProcessor(
            appends=self._processor(producer, threads=False),
            houses=(lambda: self.registry.by_house) if houses is None else (lambda: houses),
            sync_registry=None if houses is not None or self.feed is None else self.feed.sync,
        )
        loop = AppendConsumer(
            consumer=kafka_consumer, processor=processor, batch_max=settings.ledger_batch_max,
            poll_timeout_ms=settings.ledger_poll_timeout_ms, latency_sink=latency_sink,
        )
        return kafka_consumer, loop

    async def ensure_topics(self) -> None:
        """Create the append, dead-letter, checkpoint and meter-readings topics if they are missing (idempotent)."""
        from energychain_shared.kafka import ensure_topics

        await ensure_topics(self.settings, [LEDGER_APPENDS, LEDGER_DEAD_LETTERS, LEDGER_CHECKPOINTS, METER_READINGS])

    def make_producer(self, *, client_id: str = "ledger-dead-letters") -> AIOKafkaProducer:
        """The producer of dead letters and checkpoints (call inside a running loop)."""
        return make_producer(self.settings, client_id=client_id)

    @contextlib.asynccontextmanager
    async def streams(self, *, client_id: str = "ledger") -> AsyncIterator[list[Stream]]:
        """The append stream and (EC_LEDGER_RECORD_READINGS) the readings stream, over one started producer.

        The topics are created first; the producer of dead letters and checkpoints is stopped on exit.
        """
        await self.ensure_topics()
        producer = self.make_producer(client_id=f"{client_id}-dead-letters")
        await producer.start()
        try:
            consumer, loop = self.make_consumer(client_id=client_id, producer=producer)
            streams = [Stream(consumer, loop.run)]
            if self.settings.ledger_record_readings:
                readings, readings_loop = self.make_readings_consumer(client_id=f"{client_id}-readings",
                                                                      producer=producer)
                streams.append(Stream(readings, readings_loop.run))
            yield streams
        finally:
            await producer.stop()

    async def consume(self, stop: asyncio.Event, *, client_id: str = "ledger") -> None:
        """Run the ledger's streams until ``stop``; one of them ending or failing stops the others."""
        async with self.streams(client_id=client_id) as streams:
            every = None if self.feed is None else self.feed.sync
            await run_streams(streams, stop, every=every, every_s=self.settings.registry_refresh_s)


async def open_ledger(
    settings: LedgerSettings, *, register_keys: bool = True, writer: bool = False, follow_registry: bool = False,
) -> Ledger:
    """Connect, sync channels from the registry, register producer keys, load them.

    ``writer``: this process appends, so it loads the ledger's private key to sign checkpoints.
    ``follow_registry``: the registry is the seed file and the program.registry topic, applied live
    (channels of houses and municipalities enrolled later are created as they are read, and every
    channel's membership by date is brought to the registry's, moves included); otherwise the seed
    file alone (commands that only read; memberships are left as the database has them).
    """
    feed = await started_feed(settings, client_id="ledger-registry") if follow_registry else None
    registry = seed_registry(settings) if feed is None else feed.registry
    house_municipality = {r.house_id: r.municipality_id for r in registry.residents}
    sign = None
    if writer:
        sign = checkpoint_signer(settings.ledger_origin,
                                 key_files.load_private_key(settings.resolved_keys_dir, LEDGER_KEY))
    store = LedgerStore(ledger_engine(settings, pool_size=settings.ledger_db_pool_size),
                        house_municipality=house_municipality, origin=settings.ledger_origin, sign_checkpoint=sign)
    try:
        await store.ensure_channels(registry_channels(registry))
        if feed is not None:  # the whole registry, moves included (the seed file alone might lack them)
            await store.sync_memberships(registry_memberships(registry))
        if register_keys:
            await store.register_service_keys(disk_public_keys(settings.resolved_keys_dir))
        keys = parse_keys(await store.service_keys())
    except BaseException:
        await store.close()
        if feed is not None:
            await feed.stop()
        raise
    ledger = Ledger(settings=settings, registry=registry, store=store, keys=keys, feed=feed)
    if feed is not None:
        feed.listen(ledger.apply_registry)
    return ledger


@contextlib.asynccontextmanager
async def opened_ledger(settings: LedgerSettings, **options: bool) -> AsyncIterator[Ledger]:
    """`open_ledger` (same options), closed on exit."""
    ledger = await open_ledger(settings, **options)
    try:
        yield ledger
    finally:
        await ledger.close()
