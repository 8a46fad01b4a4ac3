"""The verifiable log on the real database: one checkpoint per batch, proofs, and tampering named by verify."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from energychain_ledger.adapters.migrations import upgrade_to_head
from energychain_ledger.adapters.store import LedgerStore, LogIntegrityError, ledger_engine
from energychain_ledger.adapters.wire import parse_append
from energychain_ledger.bootstrap import checkpoint_signer, open_ledger
from energychain_ledger.domain.log import HEADS_TREE
from energychain_ledger.verification import (
    BAD_SIGNATURE, CHECKPOINT_MISMATCH, HEAD_MISMATCH, LEAF_MISMATCH, LOG_MISMATCH, NODE_MISMATCH, POSTING_MISMATCH,
    verify_channel, verify_log,
)
from energychain_shared import keys as key_files
from energychain_shared.events import Transfer, encode
from energychain_shared.ledger_client import signed_append
from energychain_shared.pg import create_database, drop_database
from energychain_shared.tlog import merkle, note as notes
from energychain_shared.tlog.heads import head_leaf_data

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


@pytest.fixture
async def scratch(ledger_settings):
    """A ledger on a database of its own: tampering with its log must not break the other tests' log."""
    name = f"{ledger_settings.pg_database}_log_{uuid.uuid4().hex[:8]}"
    admin = ledger_settings.asyncpg_dsn
    await create_database(admin, name)
    settings = ledger_settings.model_copy(update={"pg_database": name})
    await asyncio.to_thread(upgrade_to_head, settings)
    opened = await open_ledger(settings, writer=True)
    try:
        yield opened
    finally:
        await opened.close()
        await drop_database(admin, name)


async def _verify(ledger, channel):
    return await verify_channel(ledger.store, ledger.keys, channel, log_keys=await ledger.log_keys())


async def test_every_batch_is_covered_by_one_signed_checkpoint_that_extends_the_last(scratch):
    channels = [f"resident:cp-{n}" for n in range(30)]
    sizes = []
    for batch in range(3):
        appends = [a for c in channels for a in _appends(scratch, prefix=f"{c}-{batch}", channels=[c], count=2)]
        committed = await scratch.store.append_batch(appends)
        checkpoint = notes.parse_checkpoint(notes.parse_note(committed.note).body)
        # One checkpoint, one signature, for 60 entries over 30 channels: one head per changed channel.
        assert checkpoint.size == committed.plan.log.size == 30 * (batch + 1)
        assert notes.verify_signature(notes.parse_note(committed.note), name=scratch.settings.ledger_origin,
                                      public_key=scratch.log_public_key())
        sizes.append((checkpoint.size, checkpoint.root))
    (old, old_root), (new, new_root) = sizes[0], sizes[-1]
    proof = await scratch.store.consistency_proof(HEADS_TREE, old, new)
    assert merkle.verify_consistency(old_size=old, new_size=new, old_root=old_root, new_root=new_root, proof=proof)
    assert [c["size"] for c in await scratch.store.checkpoints_page()] == [30, 60, 90]
    report = await verify_log(scratch.store, log_keys=await scratch.log_keys())
    assert report.ok and report.size == 90, report.problems


async def test_inclusion_and_consistency_proofs_of_a_channel_verify_and_read_no_whole_channel(scratch):
    channel = "resident:proofs"
    for start in range(0, 300, 100):
        await scratch.store.append_batch(_appends(scratch, prefix=f"p{start}", channels=[channel], count=100))
    tree = (await scratch.store.channel(channel)).tree_id
    stored = [s async for s in scratch.store.tree_entries(tree, channel=channel)]
    leaves = [merkle.leaf_hash(s.entry) for s in stored]
    head = await scratch.store.head(channel)
    assert head.size == 300 and head.root == merkle.root_of(leaves)
    proofs = await scratch.store.inclusion_proofs(tree, [0, 137, 299], 300)
    for index, proof in proofs.items():
        assert proof == merkle.inclusion_proof(index, 300, leaves)
        assert merkle.verify_inclusion(index=index, size=300, leaf_hash=leaves[index], proof=proof, root=head.root)
    for old in (1, 100, 255, 256, 299):
        proof = await scratch.store.consistency_proof(tree, old, 300)
        assert merkle.verify_consistency(old_size=old, new_size=300, old_root=merkle.root_of(leaves[:old]),
                                         new_root=head.root, proof=proof)


async def test_same_entry_written_twice_is_stored_once_and_needs_no_checkpoint(scratch):
    batch = _appends(scratch, prefix="dup", channels=["resident:dup"], count=3)
    first = await scratch.store.append_batch(batch)
    second = await scratch.store.append_batch(batch)
    assert len(first.plan.appended) == 3 and len(second.plan.duplicates) == 3
    assert second.note is None and not second.plan.entries
    assert (await scratch.store.head("resident:dup")).size == 3


async def test_a_second_writer_process_continues_the_same_log(scratch):
    await scratch.store.append_batch(_appends(scratch, prefix="w1", channels=["resident:w"], count=3))
    settings = scratch.settings
    key = key_files.load_private_key(settings.resolved_keys_dir, "ledger")
    other = LedgerStore(ledger_engine(settings, pool_size=2), house_municipality={}, origin=settings.ledger_origin,
                        sign_checkpoint=checkpoint_signer(settings.ledger_origin, key))
    try:
        await other.append_batch(_appends(scratch, prefix="w2", channels=["resident:w"], count=2))
    finally:
        await other.close()
    # The first writer's view is stale; it notices under the lock and starts from the database.
    await scratch.store.append_batch(_appends(scratch, prefix="w3", channels=["resident:w"], count=1))
    assert (await scratch.store.head("resident:w")).size == 6
    report = await verify_log(scratch.store, log_keys=await scratch.log_keys())
    assert report.ok and report.size == 3, report.problems


async def _seeded(ledger, channel: str, *, count: int = 20, transfers=()):
    await ledger.store.append_batch(_appends(ledger, prefix=channel, channels=[channel], count=count,
                                             transfers=transfers))
    await ledger.store.append_batch(_appends(ledger, prefix=f"{channel}-b", channels=[channel], count=count))
    return (await ledger.store.channel(channel)).tree_id


async def _sql(ledger, *statements: str, args=()):
    async with ledger.store.pool.acquire() as connection:
        for sql in statements:
            await connection.execute(sql, *args)


async def test_payload_edited_in_postgres_is_named_by_verify(scratch):
    tree = await _seeded(scratch, "resident:edit")
    await _sql(scratch, "UPDATE ledger.entries SET entry = convert_to(replace(convert_from(entry, 'UTF8'),"
               " '\"i\":3', '\"i\":999'), 'UTF8') WHERE tree_id = $1 AND seq = 4", args=(tree,))
    report = await _verify(scratch, "resident:edit")
    problems = {(p.problem, p.seq, p.entry_id) for p in report.problems}
    assert (LEAF_MISMATCH, 4, "resident:edit-3") in problems and (BAD_SIGNATURE, 4, "resident:edit-3") in problems


async def test_posting_amounts_edited_on_both_sides_are_named_by_verify(scratch):
    transfer = Transfer(debit_account="resident:pay:receivable", credit_account="gsa:revenue", amount_cents=1500)
    await _seeded(scratch, "resident:pay", count=2, transfers=[transfer])
    await _sql(scratch, "UPDATE ledger.postings SET amount_cents = amount_cents * 10 WHERE entry_id = 'resident:pay-1'")
    total, _, _ = await scratch.store.trial_balance()
    assert total == 0  # the double-entry check alone cannot see it
    report = await _verify(scratch, "resident:pay")
    named = {(p.problem, p.posting) for p in report.problems}
    assert named == {(POSTING_MISMATCH, "resident:pay-1/0/resident:pay:receivable"),
                     (POSTING_MISMATCH, "resident:pay-1/0/gsa:revenue")}
    assert any("is 15000 cents; the signed entry says 1500" in p.detail for p in report.problems)


async def test_tail_deleted_with_its_head_stepped_back_is_named_by_verify_and_stops_the_writer(scratch):
    tree = await _seeded(scratch, "resident:cut")
    # Cut the last entry and rewrite the channel's newest head to the shorter tree.
    await _sql(scratch, "DELETE FROM ledger.entries WHERE tree_id = $1 AND seq = 40", args=(tree,))
    shorter = await scratch.store.tree_root(tree, 39)
    await _sql(scratch, "UPDATE ledger.heads SET size = 39, root = $2 WHERE tree_id = $1"
               " AND log_index = (SELECT max(log_index) FROM ledger.heads WHERE tree_id = $1)", args=(tree, shorter))
    report = await _verify(scratch, "resident:cut")
    assert report.size == 39 and any(p.problem == LOG_MISMATCH and p.channel == "resident:cut" for p in report.problems)
    whole = await verify_log(scratch.store, log_keys=await scratch.log_keys())
    assert any(p.problem == CHECKPOINT_MISMATCH for p in whole.problems), whole.problems
    # A writer that (re)starts from this database refuses to sign on top of a log that no longer gives its checkpoint.
    fresh = await open_ledger(scratch.settings, writer=True)
    try:
        with pytest.raises(LogIntegrityError, match="does not give the root of checkpoint"):
            await fresh.store.append_batch(_appends(scratch, prefix="more", channels=["resident:other"], count=1))
    finally:
        await fresh.close()


async def test_middle_entry_deleted_with_every_later_hash_recomputed_is_named_by_verify(scratch):
    tree = await _seeded(scratch, "resident:mid")
    # Delete seq 7, renumber the later entries, recompute every stored node and the channel's heads.
    await _sql(scratch, "DELETE FROM ledger.entries WHERE tree_id = $1 AND seq = 7",
               "UPDATE ledger.entries SET seq = seq + 999 WHERE tree_id = $1 AND seq > 7",
               "UPDATE ledger.entries SET seq = seq - 1000 WHERE tree_id = $1 AND seq > 1000",
               "DELETE FROM ledger.tree_nodes WHERE tree_id = $1", args=(tree,))
    leaves = [s.leaf async for s in scratch.store.tree_entries(tree, channel="resident:mid")]
    frontier = merkle.Frontier()
    rows = []
    for leaf in leaves:
        rows += [(tree, level, index, digest) for level, index, digest in frontier.append(leaf) if level % 4 == 0]
    async with scratch.store.pool.acquire() as connection:
        await connection.copy_records_to_table("tree_nodes", schema_name="ledger", records=rows)
        for head in await scratch.store.heads(start=0, end=2**40, tree_id=tree):
            size = min(head.size, len(leaves))
            await connection.execute("UPDATE ledger.heads SET size = $2, root = $3 WHERE log_index = $1",
                                     head.log_index, size, merkle.root_of(leaves[:size]))
    report = await _verify(scratch, "resident:mid")
    assert not [p for p in report.problems if p.problem in (LEAF_MISMATCH, NODE_MISMATCH, HEAD_MISMATCH)]
    assert any(p.problem == LOG_MISMATCH for p in report.problems), report.problems  # its head left the checkpoint
    whole = await verify_log(scratch.store, log_keys=await scratch.log_keys())
    assert any(p.problem == CHECKPOINT_MISMATCH for p in whole.problems)


async def test_entries_reordered_in_postgres_are_named_by_verify(scratch):
    tree = await _seeded(scratch, "resident:swap")
    await _sql(scratch, "UPDATE ledger.entries SET seq = 1000 WHERE tree_id = $1 AND seq = 2",
               "UPDATE ledger.entries SET seq = 2 WHERE tree_id = $1 AND seq = 3",
               "UPDATE ledger.entries SET seq = 3 WHERE tree_id = $1 AND seq = 1000", args=(tree,))
    report = await _verify(scratch, "resident:swap")
    node = next(p for p in report.problems if p.problem == NODE_MISMATCH)
    assert node.channel == "resident:swap" and node.seq == 1 and "entries 1..16" in node.detail
    assert any(p.problem == HEAD_MISMATCH and p.seq == 20 for p in report.problems)


async def test_transfers_post_balanced_entries_and_the_trial_balance_stays_zero(scratch):
    transfer = Transfer(debit_account="resident:tb:receivable", credit_account="gsa:revenue", amount_cents=4321)
    await scratch.store.append_batch(_appends(scratch, prefix="tb", channels=["resident:tb"], count=2,
                                              transfers=[transfer]))
    assert await scratch.store.balances(lambda a: a == "resident:tb:receivable") == {"resident:tb:receivable": 8642}
    total, _, _ = await scratch.store.trial_balance()
    assert total == 0
    assert (await _verify(scratch, "resident:tb")).ok


async def test_a_head_leaf_is_73_bytes_naming_the_channel_only_by_its_blinded_id(scratch):
    await scratch.store.append_batch(_appends(scratch, prefix="bl", channels=["resident:blind"], count=1))
    (head,) = await scratch.store.heads(start=0, end=10)
    channel = await scratch.store.channel("resident:blind")
    data = head_leaf_data(channel.blinded_id, head.size, head.root)
    assert len(data) == 73 and b"blind" not in data
    (entry,) = await scratch.store.channel_entries("resident:blind")
    assert json.loads(entry.entry)["entry_id"] == "bl-0"
