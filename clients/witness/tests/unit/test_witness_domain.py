"""The witness's checks as plain functions: each refusal with its reason code and what it names."""

from __future__ import annotations

import secrets

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from energychain_shared.rules import canonical_json
from energychain_shared.tlog import merkle, note
from energychain_shared.tlog.heads import blinded_channel_id

from energychain_witness import domain
from energychain_witness.domain import ChannelState, Head, Posting, Refused, Transfer, WitnessState

pytestmark = pytest.mark.unit

ORIGIN = "test.local/ledger"


def refused(reason: str):
    return pytest.raises(Refused, match=f"^{reason}: ")


def signed(size: int, root: bytes, key: Ed25519PrivateKey, origin: str = ORIGIN) -> str:
    return note.sign_note(note.checkpoint_body(note.Checkpoint(origin, size, root)), name=origin, private_key=key)


def test_the_ledger_signature_must_verify_with_the_pinned_key_and_origin():
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    root = secrets.token_bytes(32)
    checkpoint = domain.verify_checkpoint(signed(3, root, key), ledger_name=ORIGIN, ledger_public_key=key.public_key())
    assert (checkpoint.size, checkpoint.root, checkpoint.origin) == (3, root, ORIGIN)
    assert checkpoint.body == f"{ORIGIN}\n3\n{domain.b64(root)}\n"
    with refused("bad_signature"):
        domain.verify_checkpoint(signed(3, root, other), ledger_name=ORIGIN, ledger_public_key=key.public_key())
    with refused("bad_signature"):
        domain.verify_checkpoint(signed(3, root, key, "elsewhere/log"), ledger_name=ORIGIN,
                                 ledger_public_key=key.public_key())
    with refused("bad_signature"):
        domain.verify_checkpoint("not a note", ledger_name=ORIGIN, ledger_public_key=key.public_key())


def test_a_checkpoint_is_new_same_or_refused_against_the_last_cosigned_one():
    root = secrets.token_bytes(32)
    state = WitnessState(size=5, root=root)
    at = lambda size, r: domain.SignedCheckpoint(ORIGIN, size, r, "", "")  # noqa: E731
    assert domain.is_new(state, at(6, secrets.token_bytes(32)))
    assert not domain.is_new(state, at(5, root))
    with refused("rollback"):
        domain.is_new(state, at(4, root))
    with refused("fork"):
        domain.is_new(state, at(5, secrets.token_bytes(32)))


def heads_for(count: int) -> list[Head]:
    return [Head(i, secrets.token_bytes(32).hex(), i + 1, secrets.token_bytes(32)) for i in range(count)]


def test_heads_appended_to_the_compact_range_must_give_the_root_and_the_log_must_be_consistent():
    heads = heads_for(7)
    leaves = [h.leaf_hash() for h in heads]
    old = WitnessState(3, merkle.root_of(leaves[:3]), merkle.Frontier())
    for leaf in leaves[:3]:
        old.heads.append(leaf)
    new = domain.SignedCheckpoint(ORIGIN, 7, merkle.root_of(leaves), "", "")
    proof = [domain.b64(p) for p in merkle.consistency_proof(3, 7, leaves)]
    domain.check_log_consistency(old, new, proof)
    assert domain.extend_heads(old, new, heads[3:]).root() == new.root
    with refused("inconsistent_log"):
        domain.check_log_consistency(old, new, proof[::-1])
    with refused("heads_mismatch"):
        domain.extend_heads(old, new, heads[4:])
    with refused("heads_mismatch"):
        domain.extend_heads(old, new, [heads[3], heads[5], heads[4], heads[6]])
    with refused("heads_mismatch"):
        domain.parse_head({"index": 1, "blinded_id": "zz", "size": 1, "root": domain.b64(bytes(32))})


def test_member_channels_have_the_blinded_id_their_salt_gives():
    salt = secrets.token_bytes(32)
    good = blinded_channel_id("resident:h1", salt).hex()
    channels, listed = domain.check_member_channels(WitnessState(), [{"channel": "resident:h1", "salt": salt.hex(),
                                                                      "blinded_id": good}])
    assert channels[good].name == "resident:h1" and channels[good].frontier.size == 0 and listed == {good}
    assert domain.check_member_channels(WitnessState(channels=channels), []) == (channels, set())
    with refused("channel_inconsistent") as raised:
        domain.check_member_channels(WitnessState(), [{"channel": "resident:h1", "salt": salt.hex(),
                                                       "blinded_id": secrets.token_bytes(32).hex()}])
    assert "resident:h1" in raised.value.detail
    known = WitnessState(channels=channels)
    other_salt = secrets.token_bytes(32)
    with refused("channel_inconsistent"):
        domain.check_member_channels(known, [{"channel": "resident:h1", "salt": other_salt.hex(),
                                              "blinded_id": blinded_channel_id("resident:h1", other_salt).hex()}])


def test_channel_heads_must_grow_and_the_first_one_is_taken_as_it_is():
    blinded = secrets.token_bytes(32).hex()
    r1, r2 = secrets.token_bytes(32), secrets.token_bytes(32)
    heads = [Head(0, blinded, 2, r1), Head(1, blinded, 2, r1), Head(2, blinded, 5, r2)]
    transitions, by_channel = domain.channel_transitions({}, heads, watch_all=True)
    assert [(t.old_size, t.new_size, t.needs_proof) for t in transitions] == [(0, 2, False), (2, 5, True)]
    assert [h.index for h in by_channel[blinded]] == [0, 2]
    assert domain.channel_transitions({}, heads, watch_all=False) == ([], {})
    with refused("channel_rollback"):
        domain.channel_transitions({}, [Head(0, blinded, 5, r2), Head(1, blinded, 4, r1)], watch_all=True)
    with refused("channel_inconsistent"):
        domain.channel_transitions({blinded: ChannelState(blinded, None, 2, r1)}, [Head(0, blinded, 2, r2)],
                                   watch_all=True)


def entry_text(entry_id: str, channels: list[str], transfers=()) -> str:
    return canonical_json({"body": {}, "channels": channels, "entry_id": entry_id, "kind": "k",
                           "occurred_at": "2026-01-01T00:00:00+00:00", "producer": "p",
                           "transfers": list(transfers)}).decode()


def test_entries_must_give_every_head_of_the_round_and_name_their_channel():
    texts = [entry_text(f"e{i}", ["resident:h1"]) for i in range(1, 5)]
    leaves = [merkle.leaf_hash(t.encode()) for t in texts]
    blinded = secrets.token_bytes(32).hex()
    state = ChannelState(blinded, "resident:h1", frontier=merkle.Frontier())
    heads = [Head(3, blinded, 2, merkle.root_of(leaves[:2])), Head(9, blinded, 4, merkle.root_of(leaves))]
    entries = [domain.parse_entry("resident:h1", i + 1, t) for i, t in enumerate(texts)]
    new, taken = domain.apply_entries(state, heads, entries)
    assert (new.size, new.root, len(taken)) == (4, merkle.root_of(leaves), 4)
    bad_middle = [Head(3, blinded, 2, bytes(32)), heads[1]]
    with refused("entries_mismatch") as raised:
        domain.apply_entries(state, bad_middle, entries)
    assert "head 3" in raised.value.detail
    with refused("entries_mismatch"):
        domain.apply_entries(state, heads, [entries[1], entries[0], *entries[2:]])
    with refused("entries_mismatch"):
        domain.apply_entries(state, heads, entries[:3])
    with refused("entries_mismatch"):
        domain.parse_entry("resident:h2", 1, texts[0])
    with refused("entries_mismatch"):
        domain.parse_entry("resident:h1", 1, "{not json")
    with refused("entries_mismatch"):
        domain.check_same_entries([entries[0]], {"e1": bytes(32)})


def test_every_posting_of_a_seen_entry_is_one_side_of_its_transfer_and_every_side_is_posted_once():
    account = "resident:h1:receivable"
    seen = {"e1": (Transfer(account, "municipality:parlier:escrow", 500), Transfer("x", account, 70))}
    good = [Posting("e1", 0, 500), Posting("e1", 1, -70), Posting("unseen", 0, 12345)]
    domain.check_postings(account, good, seen)
    with refused("posting_mismatch") as raised:
        domain.check_postings(account, [Posting("e1", 0, -500), Posting("e1", 1, -70)], seen)
    assert account in raised.value.detail and "e1" in raised.value.detail
    with refused("posting_mismatch"):
        domain.check_postings(account, [Posting("e1", 0, 500)], seen)  # the credit side is missing
    with refused("posting_mismatch"):
        domain.check_postings(account, [*good, Posting("e1", 0, 500)], seen)  # posted twice
    with refused("posting_mismatch"):
        domain.check_postings(account, [*good, Posting("e1", 2, 1)], seen)  # no such transfer


def test_the_accounts_a_round_compares_roll_over_the_visible_ones():
    visible = ["a", "b", "c", "d"]
    assert domain.accounts_to_compare(visible, ["c", "hidden"], cursor="", budget=2) == (["a", "b", "c"], "b")
    assert domain.accounts_to_compare(visible, [], cursor="c", budget=2) == (["a", "d"], "a")
    assert domain.accounts_to_compare(visible, ["b"], cursor="x", budget=0) == (["b"], "x")


@pytest.mark.parametrize(("size", "cursor", "budget", "ranges", "after"), [
    (10, 0, 4, [(1, 4)], 4),
    (10, 8, 4, [(9, 10), (1, 2)], 2),
    (10, 10, 4, [(1, 4)], 4),
    (3, 1, 5000, [(2, 3), (1, 1)], 1),
    (3, 0, 5000, [(1, 3)], 3),
    (0, 0, 5000, [], 0),
    (10, 3, 0, [], 3),
])
def test_the_rolling_audit_wraps_around(size, cursor, budget, ranges, after):
    assert domain.audit_ranges(size, cursor, budget) == (ranges, after)


def test_an_older_entry_must_keep_its_leaf():
    texts = {1: entry_text("e1", ["c"]), 2: entry_text("e2", ["c"])}
    stored = {seq: (merkle.leaf_hash(t.encode()), f"e{seq}") for seq, t in texts.items()}
    domain.check_audit("c", 1, 2, list(texts.items()), stored)
    with refused("audit_mismatch") as raised:
        domain.check_audit("c", 1, 2, [(1, texts[1]), (2, texts[2] + " ")], stored)
    assert raised.value.detail.startswith("channel c seq 2 (entry e2)")
    with refused("audit_mismatch"):
        domain.check_audit("c", 1, 2, [(1, texts[1])], stored)
