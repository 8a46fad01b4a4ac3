"""Batch writer on the real database: concurrent writers keep chains gapless; tampering is caught."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime, timedelta, timezone

import pytest

from energychain_ledger.adapters.store import LedgerStore, make_pool
from energychain_ledger.adapters.signatures import SignatureVerifier
from energychain_ledger.adapters.wire import parse_append
from energychain_ledger.domain.chain import BROKEN_LINK, HASH_MISMATCH, HEAD_MISMATCH, SEQUENCE_GAP
from energychain_ledger.verification import verify_channel
from energychain_shared import keys as key_files
from energychain_shared.events import Transfer, encode
from energychain_shared.ledger_client import signed_append

pytestmark = pytest.mark.integration
T0 = datetime(2024, 5, 1, tzinfo=timezone.utc)


def _appends(ledger, *, prefix: str, channels: list[str], count: int, transfers=()):
    key = key_files.load_private_key(ledger.settings.resolved_keys_dir, "billing")
    return [
        parse_append(encode(signed_append(
            key=key, producer="billing", entry_id=f"{prefix}-{i}", channels=channels, kind="Test",
            occurred_at=T0 + timedelta(minutes=i), body={"i": i}, transfers=transfers,
        )), keys=ledger.keys)
        for i in range(count)
    ]


async def test_two_concurrent_batch_writers_on_one_channel_keep_the_chain_gapless(ledger, unique):
    channel = f"resident:cc-{unique}"
    shared, a_only, b_only = f"municipality:cc-{unique}", f"resident:ca-{unique}", f"resident:cb-{unique}"
    # Writer A appends to (own, shared), writer B to (shared, own'): both contend on `shared` and `channel`.
    batches_a = [_appends(ledger, prefix=f"a{n}-{unique}", channels=[a_only, shared, channel], count=25)
                 for n in range(6)]
    batches_b = [_appends(ledger, prefix=f"b{n}-{unique}", channels=[channel, shared, b_only], count=25)
                 for n in range(6)]
    second_pool = await make_pool(ledger.settings, size=2)
    second = LedgerStore(second_pool, house_municipality={})
    try:
        async def write(store, batches):
            for batch in batches:
                await store.append_batch(batch)

        await asyncio.gather(write(ledger.store, batches_a), write(second, batches_b))
    finally:
        await second_pool.close()
    for name, expected in ((channel, 300), (shared, 300), (a_only, 150), (b_only, 150)):
        seqs = [row.seq async for row in ledger.store.chain(name)]
        assert seqs == list(range(1, expected + 1)), name
        report = await verify_channel(ledger.store, ledger.keys, name)
        assert report.ok and report.entries_checked == expected, report.failure


async def test_same_entry_written_twice_is_stored_once(ledger, unique):
    channel = f"resident:dup-{unique}"
    batch = _appends(ledger, prefix=f"dup-{unique}", channels=[channel], count=3)
    first = await ledger.store.append_batch(batch)
    second = await ledger.store.append_batch(batch)
    assert len(first.appended) == 3 and len(second.duplicates) == 3 and not second.rows
    assert await ledger.store.head(channel) == (3, first.rows[-1].hash)


async def _tampered(ledger, unique: str, name: str, *statements: str):
    channel = f"resident:{name}-{unique}"
    await ledger.store.append_batch(_appends(ledger, prefix=f"{name}-{unique}", channels=[channel], count=5))
    async with ledger.store.pool.acquire() as connection:
        for sql in statements:
            await connection.execute(sql, channel)
    return (await verify_channel(ledger.store, ledger.keys, channel)).failure


async def test_row_altered_in_postgres_is_caught_naming_the_entry(ledger, unique):
    failure = await _tampered(ledger, unique, "upd",
                              "UPDATE ledger.entries SET payload = '{\"i\": 999}' WHERE channel = $1 AND seq = 3")
    assert (failure.seq, failure.entry_id, failure.problem) == (3, f"upd-{unique}-2", HASH_MISMATCH)


async def test_row_deleted_in_postgres_is_caught_as_a_sequence_gap(ledger, unique):
    failure = await _tampered(ledger, unique, "del", "DELETE FROM ledger.entries WHERE channel = $1 AND seq = 2")
    assert (failure.seq, failure.entry_id, failure.problem) == (3, f"del-{unique}-2", SEQUENCE_GAP)


async def test_last_row_deleted_in_postgres_is_caught_against_the_channel_head(ledger, unique):
    failure = await _tampered(ledger, unique, "tail", "DELETE FROM ledger.entries WHERE channel = $1 AND seq = 5")
    assert (failure.seq, failure.problem) == (5, HEAD_MISMATCH)


async def test_rows_reordered_in_postgres_are_caught(ledger, unique):
    # Swap positions 2 and 3 (through a free seq so the primary key allows it).
    failure = await _tampered(
        ledger, unique, "swap",
        "UPDATE ledger.entries SET seq = 1000 WHERE channel = $1 AND seq = 2",
        "UPDATE ledger.entries SET seq = 2 WHERE channel = $1 AND seq = 3",
        "UPDATE ledger.entries SET seq = 3 WHERE channel = $1 AND seq = 1000",
    )
    assert failure.seq == 2 and failure.entry_id == f"swap-{unique}-2"
    assert failure.problem in (BROKEN_LINK, HASH_MISMATCH)


async def test_checkpoint_pins_heads_and_verification_confirms_it(ledger, unique):
    channel = f"resident:cp-{unique}"
    await ledger.store.append_batch(_appends(ledger, prefix=f"cp-{unique}", channels=[channel], count=4))
    assert await ledger.checkpoint() >= 1
    await ledger.store.append_batch(_appends(ledger, prefix=f"cp2-{unique}", channels=[channel], count=2))
    full = await verify_channel(ledger.store, ledger.keys, channel)
    assert full.ok and full.checkpoints_confirmed == (4,)
    tail = await verify_channel(ledger.store, ledger.keys, channel, from_checkpoint=True)
    assert tail.ok and tail.start_seq == 4 and tail.entries_checked == 2


async def test_transfers_post_balanced_entries_and_the_trial_balance_stays_zero(ledger, unique):
    house = f"tb-{unique}"
    transfer = Transfer(debit_account=f"resident:{house}:receivable", credit_account="gsa:revenue", amount_cents=4321)
    await ledger.store.append_batch(_appends(ledger, prefix=f"tb-{unique}", channels=[f"resident:{house}"],
                                             count=2, transfers=[transfer]))
    balances = await ledger.store.balances(lambda a: a == f"resident:{house}:receivable")
    assert balances == {f"resident:{house}:receivable": 8642}
    total, _, _ = await ledger.store.trial_balance()
    assert total == 0


def test_digest_is_sha256_of_signed_bytes():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    request = signed_append(key=key, producer="billing", entry_id="x", channels=["gsa"], kind="K",
                            occurred_at=T0, body={})
    parsed = parse_append(encode(request), keys={"billing": [SignatureVerifier(key.public_key())]})
    assert parsed.digest == hashlib.sha256(request.signing_payload()).hexdigest()
