"""Topics are created with the replication factor and min.insync.replicas of the settings (the three-broker
profile sets 3 and 2; the default, one broker, 1 and 1)."""

import asyncio

import pytest

import energychain_shared.kafka as kafka
from energychain_shared.settings import CommonSettings
from energychain_shared.topics import ALL_TOPICS

pytestmark = pytest.mark.unit


class RecordingAdmin:
    created: list = []

    def __init__(self, **_):
        pass

    async def start(self):
        pass

    async def close(self):
        pass

    async def list_topics(self):
        return []

    async def create_topics(self, topics):
        RecordingAdmin.created = topics


@pytest.mark.parametrize("environment, replicas, isr", [({}, 1, "1"), (
    {"EC_KAFKA_REPLICATION_FACTOR": "3", "EC_KAFKA_MIN_INSYNC_REPLICAS": "2"}, 3, "2")])
def test_topics_are_created_with_the_replication_settings(monkeypatch, environment, replicas, isr):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(kafka, "AIOKafkaAdminClient", RecordingAdmin)
    asyncio.run(kafka.ensure_topics(CommonSettings()))
    assert len(RecordingAdmin.created) == len(ALL_TOPICS)
    for topic in RecordingAdmin.created:
        assert topic.replication_factor == replicas
        assert topic.topic_configs["min.insync.replicas"] == isr
