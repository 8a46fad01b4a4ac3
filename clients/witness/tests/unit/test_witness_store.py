"""The witness's SQLite store: one transaction per round, one process at a time, refusals kept."""

from __future__ import annotations

import secrets

import pytest

from energychain_shared.tlog import merkle

from energychain_witness import domain
from energychain_witness.domain import ChannelState, Entry, Transfer, WitnessState
from energychain_witness.store import Cosigned, Store, StoreError

pytestmark = pytest.mark.unit


def accepted_state(size: int) -> tuple[domain.Accepted, Cosigned]:
    heads = merkle.Frontier()
    for _ in range(size):
        heads.append(secrets.token_bytes(32))
    channel = merkle.Frontier()
    leaves = [secrets.token_bytes(32) for _ in range(3)]
    for leaf in leaves:
        channel.append(leaf)
    blinded = secrets.token_bytes(32).hex()
    state = WitnessState(size, heads.root(), heads, {
        blinded: ChannelState(blinded, "resident:h1", 3, channel.root(), channel, 2),
        "ab" * 32: ChannelState("ab" * 32, None, 9, secrets.token_bytes(32)),
    }, "resident:h1:receivable")
    entries = [Entry("resident:h1", i + 1, f"e{i + 1}", leaf,
                     (Transfer("resident:h1:receivable", "municipality:parlier:escrow", 100 * (i + 1)),))
               for i, leaf in enumerate(leaves)]
    checkpoint = domain.SignedCheckpoint("o", size, heads.root(), "body", "note")
    cosigned = Cosigned(size, heads.root(), "note", "— w abc", 1_700_000_000, 1_700_000_000.5)
    return domain.Accepted(checkpoint, state, tuple(entries)), cosigned


def test_a_round_is_stored_whole_and_read_back_after_a_restart(tmp_path):
    path = tmp_path / "state.sqlite"
    accepted, cosigned = accepted_state(5)
    with Store.open(path) as store:
        assert store.load_state().size == 0 and store.last_cosigned() is None
        store.commit_round(base_size=0, base_root=merkle.EMPTY_ROOT, accepted=accepted, cosigned=cosigned)
    with Store.open(path) as store:
        state = store.load_state()
        assert (state.size, state.root, state.heads) == (5, accepted.state.root, accepted.state.heads)
        assert state.channels == accepted.state.channels
        assert state.account_cursor == "resident:h1:receivable"
        assert store.last_cosigned() == cosigned
        assert set(store.stored_leaves("resident:h1", 2, 3)) == {2, 3}
        assert store.transfers_touching("municipality:parlier:escrow")["e2"][0].amount_cents == 200
        assert set(store.seen_transfers(["e1", "nope"])) == {"e1"}
        assert set(store.leaves_of_entries(["e3"])) == {"e3"}
        store.mark_submitted(5)
        assert store.last_cosigned().submitted


def test_a_round_from_a_state_the_store_has_left_is_not_stored(tmp_path):
    with Store.open(tmp_path / "state.sqlite") as store:
        first, cosigned = accepted_state(5)
        store.commit_round(base_size=0, base_root=merkle.EMPTY_ROOT, accepted=first, cosigned=cosigned)
        stale, stale_cosigned = accepted_state(6)
        with pytest.raises(StoreError, match="moved on"):
            store.commit_round(base_size=0, base_root=merkle.EMPTY_ROOT, accepted=stale, cosigned=stale_cosigned)
        assert store.load_state().size == 5


def test_one_process_at_a_time(tmp_path):
    path = tmp_path / "state.sqlite"
    with Store.open(path):
        with pytest.raises(StoreError, match="in use"):
            Store.open(path)
        with Store.open(path, exclusive=False) as reader:  # `energychain-witness status` only reads
            assert reader.refusals() == []
    Store.open(path).close()


def test_a_store_is_bound_to_its_first_mode(tmp_path):
    with Store.open(tmp_path / "state.sqlite") as store:
        store.claim("mode", "member")
        store.claim("mode", "member")
        with pytest.raises(StoreError, match="auditor"):
            store.claim("mode", "auditor")


def test_refusals_are_kept_newest_first_and_a_repeat_only_counts_up(tmp_path):
    with Store.open(tmp_path / "state.sqlite") as store:
        store.record_refusal(reason="fork", detail="d", checkpoint_size=4, at=1.0)
        store.record_refusal(reason="fork", detail="d", checkpoint_size=4, at=2.0)
        store.record_refusal(reason="rollback", detail="r", checkpoint_size=3, at=3.0)
        rows = store.refusals()
        assert [(r.reason, r.repeats, r.at, r.last_at) for r in rows] == [("rollback", 1, 3.0, 3.0),
                                                                          ("fork", 2, 1.0, 2.0)]


def test_entries_keep_their_event_time_and_an_older_store_gains_the_column(tmp_path):
    import sqlite3

    path = tmp_path / "state.sqlite"
    old = sqlite3.connect(path)  # a store from before membership by date: entries without their event time
    old.executescript("CREATE TABLE entries (channel TEXT NOT NULL, seq INTEGER NOT NULL, entry_id TEXT NOT NULL,"
                      " leaf BLOB NOT NULL, PRIMARY KEY (channel, seq)) WITHOUT ROWID;"
                      "INSERT INTO entries VALUES ('resident:h0', 1, 'old', x'00');")
    old.close()
    accepted, cosigned = accepted_state(5)
    accepted = domain.Accepted(accepted.checkpoint, accepted.state, tuple(
        Entry(e.channel, e.seq, e.entry_id, e.leaf, e.transfers, f"2026-01-0{e.seq}T00:00:00Z")
        for e in accepted.entries))
    with Store.open(path) as store:
        store.commit_round(base_size=0, base_root=merkle.EMPTY_ROOT, accepted=accepted, cosigned=cosigned)
        assert store.stored_leaves("resident:h1", 2, 2)[2][1:] == ("e2", "2026-01-02T00:00:00Z")
        assert store.stored_leaves("resident:h0", 1, 1)[1][1:] == ("old", None)
        assert store.event_times(["e1", "old", "nope"]) == {"e1": "2026-01-01T00:00:00Z", "old": None}
