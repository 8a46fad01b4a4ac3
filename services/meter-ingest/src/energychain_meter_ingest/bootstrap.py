"""The composition root: settings -> registry, sources, checkpoint store, producer, replay, re-driver."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from energychain_shared import topics
from energychain_shared.kafka import ensure_topics, make_producer
from energychain_shared.registry import Registry
from energychain_shared.registry_feed import RegistryFeed, seed_registry

from energychain_meter_ingest import SERVICE_NAME
from energychain_meter_ingest.adapters.checkpoint import CheckpointStore
from energychain_meter_ingest.adapters.csv_source import HouseSource, load_manifest, parse_mapping
from energychain_meter_ingest.adapters.dead_letters import DeadLetterFollower
from energychain_meter_ingest.adapters.publisher import BatchPublisher
from energychain_meter_ingest.domain.readings import ValidationPolicy
from energychain_meter_ingest.redrive import Redriver
from energychain_meter_ingest.replay import Replay, TopicNames
from energychain_meter_ingest.settings import MeterIngestSettings

OWN_TOPICS = (topics.METER_READINGS, topics.METER_DEAD_LETTERS, topics.CLOCK)


def resolve_sources(settings: MeterIngestSettings, *, manifest: Path | None = None,
                    houses: list[str] | None = None) -> list[HouseSource]:
    """``--house`` pairs win; otherwise the manifest (given or from settings)."""
    if houses:
        return parse_mapping(houses)
    return load_manifest(manifest or settings.meter_ingest_manifest)


def validation_policy(settings: MeterIngestSettings) -> ValidationPolicy:
    """The limits rows are validated against (the replay's and a re-driven row's)."""
    return ValidationPolicy(
        max_wh_per_hour=settings.meter_ingest_max_wh_per_hour,
        imbalance_tolerance_wh=settings.meter_ingest_imbalance_tolerance_wh,
    )


async def current_registry(settings: MeterIngestSettings) -> Registry:
    """The registry as of now: the seed file and every change on the program.registry topic."""
    async with RegistryFeed(settings, client_id=f"{SERVICE_NAME}-registry") as feed:
        return feed.registry


def build_replay(settings: MeterIngestSettings, sources: list[HouseSource], *, replay_id: str | None = None) -> Replay:
    """A replay wired to the registry, the policy and the checkpoint file from ``settings``."""
    replay_id = replay_id or settings.meter_ingest_replay_id
    return Replay(
        sources=sources,
        registry=seed_registry(settings),
        current_registry=lambda: current_registry(settings),
        policy=validation_policy(settings),
        topic_names=TopicNames.from_settings(settings),
        checkpoints=CheckpointStore.for_replay(settings.run_dir, topic_prefix=settings.topic_prefix, replay_id=replay_id),
        replay_id=replay_id,
        checkpoint_interval_s=settings.meter_ingest_checkpoint_interval_s,
    )


@contextlib.asynccontextmanager
async def open_publisher(settings: MeterIngestSettings) -> AsyncIterator[BatchPublisher]:
    """A started idempotent producer wrapped in a batch publisher; stopped (flushed) on exit."""
    await ensure_topics(settings, OWN_TOPICS)
    producer = make_producer(
        settings,
        client_id=SERVICE_NAME,
        linger_ms=settings.meter_ingest_linger_ms,
        max_batch_size=settings.meter_ingest_batch_bytes,
    )
    await producer.start()
    try:
        yield await BatchPublisher.create(producer, readings_topic=settings.topic(topics.METER_READINGS))
    finally:
        await producer.stop()


def build_redriver(settings: MeterIngestSettings, sources: list[HouseSource], follower: DeadLetterFollower) -> Redriver:
    """Re-drives the dead letters ``follower`` reads, with the replay's files, registry and policy."""
    return Redriver(
        follower=follower,
        sources=sources,
        registry=seed_registry(settings),
        policy=validation_policy(settings),
        topic_names=TopicNames.from_settings(settings),
        open_publisher=lambda: open_publisher(settings),
        current_registry=lambda: current_registry(settings),
    )
