"""Batched publishing to Kafka: per-partition record batches, submitted without awaiting each send.

Records of one partition are appended in order to one open batch, so a partition's
watermark always follows the readings before it. Batches are submitted when full or
at a flush point; the futures of everything submitted up to a simulated hour tell
when that hour is durable on the broker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2
from energychain_shared import events

from energychain_meter_ingest.adapters.wire import HourStrings, ReadingEncoder
from energychain_meter_ingest.domain.readings import Reading


class BatchPublisher:
    """Appends events to per-(topic, partition) batches and tracks delivery futures."""

    def __init__(self, producer: AIOKafkaProducer, *, readings_topic: str, readings_partitions: int) -> None:
        self.producer = producer
        self.readings_topic = readings_topic
        self.readings_partitions = readings_partitions
        self.encoder = ReadingEncoder()
        self._builders: dict[tuple[str, int], object] = {}
        self._house_partition: dict[str, tuple[bytes, int]] = {}
        self._unsettled: list[asyncio.Future] = []
        self._partitions: dict[str, int] = {readings_topic: readings_partitions}

    @classmethod
    async def create(cls, producer: AIOKafkaProducer, *, readings_topic: str) -> BatchPublisher:
        """A publisher that knows the readings topic's partition count from the broker."""
        partitions = await producer.partitions_for(readings_topic)
        return cls(producer, readings_topic=readings_topic, readings_partitions=len(partitions))

    async def partitions_of(self, topic: str) -> int:
        """Partition count of ``topic`` (cached)."""
        if topic not in self._partitions:
            self._partitions[topic] = len(await self.producer.partitions_for(topic))
        return self._partitions[topic]

    def partition_for_key(self, key: bytes, partitions: int) -> int:
        """The partition the default (Java-compatible murmur2) partitioner gives ``key``."""
        return (murmur2(key) & 0x7FFFFFFF) % partitions

    async def _append(self, topic: str, partition: int, key: bytes | None, value: bytes, timestamp_ms: int) -> None:
        slot = (topic, partition)
        builder = self._builders.get(slot)
        if builder is None:
            builder = self._builders[slot] = self.producer.create_batch()
        if builder.append(key=key, value=value, timestamp=timestamp_ms) is None:
            await self._submit(slot)
            builder = self._builders[slot] = self.producer.create_batch()
            if builder.append(key=key, value=value, timestamp=timestamp_ms) is None:
                raise ValueError(f"event of {len(value)} bytes does not fit an empty batch")

    async def _submit(self, slot: tuple[str, int]) -> None:
        builder = self._builders.pop(slot, None)
        if builder is None or builder.record_count() == 0:
            return
        future = await self.producer.send_batch(builder, slot[0], partition=slot[1])
        self._unsettled.append(future)

    async def add_readings(self, readings: Sequence[Reading], hour: int) -> None:
        """Append one simulated hour's readings, keyed by house."""
        strings = HourStrings(hour)
        timestamp_ms = (hour + 3600) * 1000
        encode = self.encoder.encode
        topic = self.readings_topic
        builders = self._builders
        for reading in readings:
            keyed = self._house_partition.get(reading.house_id)
            if keyed is None:
                key = reading.house_id.encode()
                keyed = self._house_partition[reading.house_id] = (
                    key,
                    self.partition_for_key(key, self.readings_partitions),
                )
            value = encode(reading, strings)
            builder = builders.get((topic, keyed[1]))
            # Fast path: append to the partition's open batch; only a full batch needs the async submit.
            if builder is None or builder.append(key=keyed[0], value=value, timestamp=timestamp_ms) is None:
                await self._append(topic, keyed[1], keyed[0], value, timestamp_ms)

    async def add_event(self, topic: str, event: events.Event, *, partition: int | None = None) -> None:
        """Append one schema event (keyed by its partition key unless a partition is given)."""
        key = event.partition_key
        key_bytes = None if key is None else key.encode()
        if partition is None:
            partition = 0 if key_bytes is None else self.partition_for_key(key_bytes, await self.partitions_of(topic))
        timestamp_ms = int(event.occurred_at.timestamp() * 1000)
        await self._append(topic, partition, key_bytes, events.encode(event), timestamp_ms)

    async def submit_all(self) -> list[asyncio.Future]:
        """Submit every open batch; returns the futures of everything submitted since the last call."""
        for slot in list(self._builders):
            await self._submit(slot)
        settled, self._unsettled = self._unsettled, []
        return settled
