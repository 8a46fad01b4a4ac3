"""Dead letters through the real broker: listed from the topics by whatever process runs the API,
re-driven as the replay reads them."""

import asyncio
import uuid
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from energychain_shared import events, keys, topics
from energychain_shared.auth import Principal, Role, issue_token
from energychain_shared.kafka import ensure_topics, publish

from energychain_meter_ingest.adapters.csv_source import HouseSource
from energychain_meter_ingest.api import create_app
from energychain_meter_ingest.bootstrap import build_replay, open_publisher
from energychain_meter_ingest.settings import MeterIngestSettings
from energychain_meter_ingest.testing import BAD, GOOD, HOUR_OF_LINE, export

pytestmark = pytest.mark.integration
UTC = timezone.utc
def reading_id(line: int) -> str:
    return events.MeterReadingRecorded.id_for("house-01", datetime(2021, 11, 7, HOUR_OF_LINE[line], tzinfo=UTC))


class Ops:
    """The ops API of one meter-ingest app, as the GSA (and a resident) calls it."""

    def __init__(self, client: httpx.AsyncClient, gsa: str, resident: str) -> None:
        self.client = client
        self.gsa, self.resident = {"Authorization": f"Bearer {gsa}"}, {"Authorization": f"Bearer {resident}"}

    async def listing(self, total: int, **params) -> dict:
        """GET /dead-letters once the topics are read to their end and ``total`` dead letters match."""
        for _ in range(150):
            answer = (await self.client.get("/dead-letters", params=params, headers=self.gsa)).json()
            if answer["caught_up"] and answer["total"] == total:
                return answer
            await asyncio.sleep(0.1)
        raise AssertionError(f"listing never showed {total}: {answer}")

    async def redrive(self, dead_letter_id: str, raw: str) -> httpx.Response:
        return await self.client.post(f"/dead-letters/{dead_letter_id}/redrive", json={"raw": raw}, headers=self.gsa)


class Setup:
    """This test's settings (own topics and run dir), files, tokens, and apps that start like a new process."""

    def __init__(self, infrastructure, tmp_path: Path) -> None:
        values = dict(infrastructure.model_dump())
        values.update(topic_prefix=f"{infrastructure.topic_prefix}dl-{uuid.uuid4().hex[:6]}.", run_dir=tmp_path)
        self.settings = MeterIngestSettings(**values)
        self.house = tmp_path / "house-01.csv"
        self.house.write_text(export({**GOOD, **{line: bad for line, (bad, _, _) in BAD.items()}}))
        stranger = tmp_path / "stranger.csv"
        stranger.write_text(export({2: GOOD[2]}))
        self.sources = [HouseSource("house-01", self.house), HouseSource("house-99999", stranger)]
        keys_dir = tmp_path / "keys"
        keys.ensure_key_pair(keys_dir, keys.TOKEN_KEY)
        signing = keys.load_private_key(keys_dir, keys.TOKEN_KEY)
        self.public_key = keys.load_public_key(keys_dir, keys.TOKEN_KEY)
        self.gsa = issue_token(signing, Principal(role=Role.GSA, subject="gsa-operator"), ttl=timedelta(minutes=10))
        self.resident = issue_token(signing, Principal(role=Role.RESIDENT, subject="luis", house_id="house-01"),
                                    ttl=timedelta(minutes=10))

    async def replay(self, replay_id: str) -> None:
        """A replay outside any API process (as `energychain-meter-ingest replay` runs one), from the beginning."""
        replay = build_replay(self.settings, self.sources, replay_id=replay_id)
        replay.checkpoints.clear()
        async with open_publisher(self.settings) as publisher:
            await replay.run(publisher, speed=None)

    def api(self):
        """A fresh app around the same topics and files: what a restarted meter-ingest API is."""
        app = create_app(self.settings, self.sources, token_public_key=self.public_key)

        class Running:
            async def __aenter__(inner) -> Ops:
                inner.lifespan = app.router.lifespan_context(app)
                await inner.lifespan.__aenter__()
                inner.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
                return Ops(inner.client, self.gsa, self.resident)

            async def __aexit__(inner, *exc) -> None:
                await inner.client.aclose()
                await inner.lifespan.__aexit__(*exc)

        return Running()


async def readings_on_the_topic(settings: MeterIngestSettings) -> dict[str, list[tuple[int, bytes, bytes]]]:
    """Every MeterReadingRecorded on meter.readings by event id: (partition, key, value) of each copy."""
    name = settings.topic(topics.METER_READINGS)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(name, p) for p in range(topics.METER_READINGS.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        copies: dict[str, list[tuple[int, bytes, bytes]]] = defaultdict(list)
        while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
            for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                for r in records:
                    event = events.decode(r.value)
                    if isinstance(event, events.MeterReadingRecorded):
                        copies[event.event_id].append((tp.partition, r.key, r.value))
        return copies
    finally:
        await consumer.stop()


async def test_dead_letters_survive_a_restart_of_meter_ingest_and_redriven_rows_are_the_readings_a_replay_gives(
    infrastructure, tmp_path,
):
    setup = Setup(infrastructure, tmp_path)
    # A replay outside the API process dead-letters six rows of house-01 and the one row of an unknown house.
    await setup.replay("first")

    async with setup.api() as ops:
        listing = await ops.listing(7)
        by_line = {d["source_line"]: d for d in listing["dead_letters"] if d["house_id"] == "house-01"}
        assert {line: (d["reason"], d["raw"]) for line, d in by_line.items()} == {
            line: (reason, bad) for line, (bad, reason, _) in BAD.items()}
        assert listing["this_process"] == {"total": 0, "by_reason": {}}  # this app's process replayed nothing
        # The one of the repeated fall-back hour is re-driven before the restart.
        fall_back = by_line[4]["id"]
        answer = await ops.redrive(fall_back, BAD[4][2])
        assert answer.status_code == 200, answer.text
        assert answer.json()["reading_event_id"] == reading_id(4)

    async with setup.api() as ops:  # meter-ingest restarted: nothing of the last process survives in memory
        listing = await ops.listing(7)
        assert listing["unresolved"] == 6
        assert listing["by_reason"] == {**{reason: 1 for _, reason, _ in BAD.values()}, "unknown_house": 1}
        listed = {d["source_line"]: d for d in listing["dead_letters"] if d["house_id"] == "house-01"}
        assert {line: d["reason"] for line, d in listed.items()} == {line: reason for line, (_, reason, _) in BAD.items()}
        assert listed[4]["resolution"]["reading_event_id"] == reading_id(4)
        assert listed[4]["resolution"]["redriven_by"] == "gsa-operator"
        assert all(listed[line]["resolution"] is None for line in BAD if line != 4)
        # Newest event time first: the unparsable time has no hour of its own (the replay's clock stands in).
        times = [d["occurred_at"] for d in listing["dead_letters"]]
        assert times == sorted(times, reverse=True)

        # Filters, and the refusals of bad filters.
        assert [d["reason"] for d in (await ops.listing(1, reason="unknown_house"))["dead_letters"]] == ["unknown_house"]
        assert (await ops.listing(0, kind="ledger_append"))["dead_letters"] == []
        window = await ops.listing(2, kind="reading", since="2021-11-07T10:00:00Z", until="2021-11-07T12:00:00Z")
        assert sorted(d["source_line"] for d in window["dead_letters"]) == [4, 5]  # hours ending 10:00 and 11:00
        assert len((await ops.listing(7, limit=3))["dead_letters"]) == 3
        for params, field in [({"kind": "everything"}, "kind"), ({"since": "2021-11-07T10:00:00"}, "since"),
                              ({"limit": 0}, "limit"), ({"limit": 1001}, "limit"),
                              ({"since": "2021-11-08T00:00:00Z", "until": "2021-11-07T00:00:00Z"}, "until")]:
            refused = await ops.client.get("/dead-letters", params=params, headers=ops.gsa)
            assert refused.status_code == 422 and field in refused.text, (params, refused.text)
        assert (await ops.client.get("/dead-letters", headers=ops.resident)).status_code == 403
        assert (await ops.client.get("/dead-letters")).status_code == 401

        # A dead letter is re-driven once, across the restart.
        again = await ops.redrive(fall_back, BAD[4][2])
        assert again.status_code == 409 and "already_redriven" in again.text
        # A correction that still fails names the field and the reason; nothing is marked resolved.
        still_bad = await ops.redrive(listed[7]["id"], "2021-11-07T04:00:00,0,0,0,0.50,0,0.50,101")
        assert still_bad.status_code == 422 and "raw" in still_bad.text and "battery_level_out_of_range" in still_bad.text
        stranger = next(d for d in listing["dead_letters"] if d["reason"] == "unknown_house")
        unknown = await ops.redrive(stranger["id"], GOOD[2])
        assert unknown.status_code == 422 and "unknown_house" in unknown.text
        assert (await ops.redrive("no-such-dead-letter", GOOD[2])).status_code == 404
        two_lines = await ops.redrive(listed[5]["id"], BAD[5][2] + "\n" + GOOD[10])
        assert two_lines.status_code == 422 and "raw" in two_lines.text
        for line in (5, 6, 7, 8, 9):
            answer = await ops.redrive(listed[line]["id"], BAD[line][2])
            assert answer.status_code == 200, answer.text
            assert answer.json()["reading_event_id"] == reading_id(line)
        assert (await ops.listing(7))["unresolved"] == 1  # the unknown house's row

    # The other path: the corrected file replayed again. Every reading it publishes is a copy, byte for byte
    # and on the same partition, of one already on the topic (the first replay's or a re-driven one).
    setup.house.write_text(export({**GOOD, **{line: fixed for line, (_, _, fixed) in BAD.items()}}))
    await setup.replay("corrected")
    copies = await readings_on_the_topic(setup.settings)
    assert set(copies) == {reading_id(line) for line in HOUR_OF_LINE}
    assert {event_id: len(found) for event_id, found in copies.items()} == {reading_id(line): 2 for line in HOUR_OF_LINE}
    assert all(len(set(found)) == 1 for found in copies.values())


async def test_refused_ledger_appends_are_listed_with_their_producer_and_are_not_redriven(infrastructure, tmp_path):
    setup = Setup(infrastructure, tmp_path)
    refused = events.LedgerAppendRejected(
        event_id=events.deterministic_id("LedgerAppendRejected", "invoice-x", "bad_signature", "test"),
        occurred_at=datetime(2021, 9, 1, 7, tzinfo=UTC), producer="ledger", entry_id="invoice-x",
        reason="bad_signature", detail="the signature does not verify with billing's key",
        request={"producer": "billing", "entry_id": "invoice-x", "kind": "invoice"},
    )
    await ensure_topics(setup.settings, [topics.LEDGER_DEAD_LETTERS])
    producer = AIOKafkaProducer(bootstrap_servers=setup.settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        await (await publish(producer, setup.settings.topic(topics.LEDGER_DEAD_LETTERS), refused))
    finally:
        await producer.stop()

    async with setup.api() as ops:
        (listed,) = (await ops.listing(1, kind="ledger_append"))["dead_letters"]
        assert (listed["kind"], listed["reason"], listed["producer"], listed["entry_id"]) == (
            "ledger_append", "bad_signature", "billing", "invoice-x")
        assert listed["request"]["kind"] == "invoice" and listed["occurred_at"] == "2021-09-01T07:00:00Z"
        answer = await ops.redrive(listed["id"], GOOD[2])
        assert answer.status_code == 409 and "not_a_reading" in answer.text
