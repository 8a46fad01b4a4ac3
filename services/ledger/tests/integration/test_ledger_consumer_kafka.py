"""The append consumer on the real broker: redelivery, conflicts, forgeries, bad transfers, two instances."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from datetime import datetime, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from energychain_ledger.verification import verify_channel
from energychain_shared import keys as key_files
from energychain_shared.events import LedgerAppendRejected, Transfer, decode
from energychain_shared.kafka import make_consumer, make_producer, publish
from energychain_shared.ledger_client import signed_append
from energychain_shared.topics import LEDGER_APPENDS, LEDGER_DEAD_LETTERS

pytestmark = pytest.mark.integration
T0 = datetime(2024, 6, 1, 12, tzinfo=timezone.utc)


@contextlib.asynccontextmanager
async def running_consumers(ledger, count: int = 1):
    """``count`` ledger consumer instances in one fresh consumer group, running until the block ends."""
    group = f"ledger-test-{uuid.uuid4().hex[:8]}"
    stop, tasks, clients = asyncio.Event(), [], []
    for n in range(count):
        producer = ledger.make_producer(client_id=f"dlq-{n}")
        await producer.start()
        kafka_consumer, loop = ledger.make_consumer(client_id=f"ledger-{n}", group_id=group, producer=producer)
        await kafka_consumer.start()
        clients += [kafka_consumer, producer]
        tasks.append(asyncio.create_task(loop.run(stop)))
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        for client in clients:
            await client.stop()


async def _publish(settings, *raw_or_events) -> None:
    producer = make_producer(settings, client_id="ledger-test-producer")
    await producer.start()
    try:
        topic = settings.topic(LEDGER_APPENDS)
        for item in raw_or_events:
            if isinstance(item, bytes):
                await producer.send_and_wait(topic, item, key=b"raw")
            else:
                await (await publish(producer, topic, item))
    finally:
        await producer.stop()


async def _dead_letters(settings, entry_ids: set[str], *, timeout: float = 30.0) -> dict[str, LedgerAppendRejected]:
    consumer = make_consumer(settings, settings.topic(LEDGER_DEAD_LETTERS), group_id=None, client_id="dlq-reader")
    await consumer.start()
    found: dict[str, LedgerAppendRejected] = {}
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while not entry_ids <= found.keys() and asyncio.get_running_loop().time() < deadline:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                for record in batch:
                    event = decode(record.value)
                    if event.entry_id in entry_ids:
                        found[event.entry_id] = event
    finally:
        await consumer.stop()
    return found


async def test_consumer_is_idempotent_and_dead_letters_conflicts_forgeries_and_bad_transfers(
    ledger, ledger_settings, unique, wait_until
):
    billing = key_files.load_private_key(ledger_settings.resolved_keys_dir, "billing")
    channel = f"resident:k-{unique}"

    def append(entry_id, *, key=billing, body=None, transfers=()):
        return signed_append(key=key, producer="billing", entry_id=entry_id, channels=[channel], kind="Test",
                             occurred_at=T0, body=body or {"v": 1}, transfers=transfers)

    good = append(f"good-{unique}", transfers=[Transfer(debit_account="gsa:cash",
                                                       credit_account=f"resident:k-{unique}:receivable",
                                                       amount_cents=500)])
    conflicting = append(f"good-{unique}", body={"v": 2})  # same id, different body, validly signed
    forged = append(f"forged-{unique}", key=Ed25519PrivateKey.generate())  # not billing's registered key
    tampered = append(f"tampered-{unique}").model_dump(mode="json") | {"body": {"v": 666}}
    same_account = append(f"same-{unique}", transfers=[Transfer(debit_account="gsa:cash", credit_account="gsa:cash",
                                                                amount_cents=5)])
    negative = append(f"neg-{unique}").model_dump(mode="json")
    negative["transfers"] = [{"debit_account": "gsa:cash", "credit_account": "gsa:revenue",
                              "amount_cents": -100, "memo": ""}]
    # The good append is delivered three times (a producer retry and a redelivery).
    await _publish(ledger_settings, good, good, conflicting, forged, json.dumps(tampered).encode(), same_account,
                   json.dumps(negative).encode(), good)
    async with running_consumers(ledger):
        letters = await _dead_letters(ledger_settings, {f"forged-{unique}", f"tampered-{unique}", f"same-{unique}",
                                                        f"neg-{unique}", f"good-{unique}"})
        await wait_until(lambda: _head_is(ledger, channel, 1))

    assert letters[f"forged-{unique}"].reason == "bad_signature"
    assert letters[f"tampered-{unique}"].reason == "bad_signature"
    assert letters[f"same-{unique}"].reason == "invalid_transfer"
    assert letters[f"neg-{unique}"].reason == "invalid_transfer"
    assert letters[f"good-{unique}"].reason == "conflicting_entry"
    assert letters[f"good-{unique}"].request["body"] == {"v": 2}
    # One entry stored, with the ORIGINAL body: redelivery changed nothing, the conflict overwrote nothing.
    rows = await ledger.store.entry_rows(f"good-{unique}")
    assert [(r.channel, r.seq, json.loads(r.entry)["body"]) for r in rows] == [(channel, 1, {"v": 1})]
    assert await ledger.store.entry_rows(f"forged-{unique}") == []
    assert await ledger.store.balances(lambda a: a.endswith(f"k-{unique}:receivable")) == {
        f"resident:k-{unique}:receivable": -500}
    report = await verify_channel(ledger.store, ledger.keys, channel, log_keys=await ledger.log_keys())
    assert report.ok, report.problems


async def _head_is(ledger, channel: str, seq: int) -> bool:
    head = await ledger.store.head(channel)
    return head is not None and head.size == seq


async def test_two_consumer_instances_appending_to_one_channel_keep_it_gapless(
    ledger, ledger_settings, unique, wait_until
):
    escrow = key_files.load_private_key(ledger_settings.resolved_keys_dir, "escrow")
    shared = f"municipality:m-{unique}"
    houses = [f"h{n}-{unique}" for n in range(8)]
    # Keyed by the first (resident) channel, so they spread over partitions and both instances
    # append to the shared municipal channel at the same time.
    appends = [
        signed_append(key=escrow, producer="escrow", entry_id=f"{house}-{i}",
                      channels=[f"resident:{house}", shared], kind="Test", occurred_at=T0, body={"i": i})
        for i in range(40) for house in houses
    ]
    async with running_consumers(ledger, count=2):
        await _publish(ledger_settings, *appends)
        await wait_until(lambda: _head_is(ledger, shared, len(appends)), timeout=60)
    tree = (await ledger.store.channel(shared)).tree_id
    seqs = [row.seq async for row in ledger.store.tree_entries(tree, channel=shared)]
    assert seqs == list(range(1, len(appends) + 1))
    report = await verify_channel(ledger.store, ledger.keys, shared, log_keys=await ledger.log_keys())
    assert report.ok, report.problems
    for house in houses:
        assert (await ledger.store.head(f"resident:{house}")).size == 40
