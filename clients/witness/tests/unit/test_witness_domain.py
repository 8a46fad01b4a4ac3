"""The witness's checks as plain functions: each refusal with its reason code and what it names."""

from __future__ import annotations

import secrets
from datetime import datetime, timezone

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


def entry_text(entry_id: str, channels: list[str], transfers=(), occurred_at="2026-01-01T00:00:00+00:00") -> str:
    return canonical_json({"body": {}, "channels": channels, "entry_id": entry_id, "kind": "k",
                           "occurred_at": occurred_at, "producer": "p",
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


# ---------------------------------------------------------------- membership by date

MOVED_AT = "2024-03-15T07:00:00Z"  # the move's local midnight (America/Los_Angeles), as the ledger serves it
MOVE = datetime(2024, 3, 15, 7, tzinfo=timezone.utc)
BEFORE = domain.Span(None, MOVE)  # the old town's membership
FROM_MOVE = domain.Span(MOVE, None)  # the new town's
# seq -> event time of a channel whose house moved: seqs 1, 2, 5 before the move (5 came late), 3, 4, 6 from it on.
TIMES = {1: "2024-03-01T12:00:00Z", 2: "2024-03-15T06:59:59Z", 3: MOVED_AT, 4: "2024-04-01T00:00:00Z",
         5: "2024-03-10T00:00:00Z", 6: "2024-05-01T00:00:00Z"}


def test_memberships_say_which_part_of_a_channel_the_witness_reads():
    assert domain.parse_memberships("gsa", None) is None  # not a resident channel: all of it
    never_moved = [{"municipality_id": "parlier", "member_from": None, "member_until": None}]
    assert domain.parse_memberships("resident:h1", never_moved) is None  # a house that never moved: all of it
    assert domain.parse_memberships("resident:h1", [
        {"municipality_id": "old", "member_from": None, "member_until": MOVED_AT}]) == (BEFORE,)
    assert domain.parse_memberships("resident:h1", [
        {"municipality_id": "new", "member_from": "2024-03-15T07:00:00+00:00", "member_until": None}]) == (FROM_MOVE,)
    assert domain.parse_memberships("resident:h1", []) == ()  # listed, with no span: none of it
    assert domain.member_spans([{"channel": "resident:h1", "memberships": never_moved}, {"channel": "gsa"}]) == {
        "resident:h1": None, "gsa": None}
    for bad in ("all", [{"member_from": "yesterday"}], [{"member_from": MOVED_AT, "member_until": MOVED_AT}],
                [{"member_from": "2024-03-15T07:00:00"}]):  # no offset
        with refused("unprovable"):
            domain.parse_memberships("resident:h1", bad)


def test_an_event_time_is_inside_the_spans_or_not():
    assert domain.in_spans(None, None) and domain.in_spans(None, "whenever")  # a whole channel: every entry
    assert domain.in_spans((BEFORE,), TIMES[2]) and not domain.in_spans((BEFORE,), TIMES[3])
    assert domain.in_spans((FROM_MOVE,), TIMES[3]) and not domain.in_spans((FROM_MOVE,), TIMES[2])
    assert domain.in_spans((BEFORE, domain.Span(datetime(2024, 4, 15, tzinfo=timezone.utc), None)), TIMES[6])
    assert not domain.in_spans((BEFORE,), None) and not domain.in_spans((BEFORE,), "not a time")
    assert not domain.in_spans((), TIMES[1])


def test_a_channel_is_read_whole_only_with_all_of_it_and_its_compact_range_at_its_head():
    blinded = secrets.token_bytes(32).hex()
    frontier = merkle.Frontier()
    frontier.append(bytes(32))
    at_head = ChannelState(blinded, "resident:h1", 1, frontier.root(), frontier)
    assert domain.reads_whole(at_head, None)
    assert domain.reads_whole(ChannelState(blinded, "resident:h1", frontier=merkle.Frontier()), None)  # new
    assert not domain.reads_whole(at_head, (BEFORE,))
    assert not domain.reads_whole(ChannelState(blinded, "resident:h1", 1, frontier.root(), None), None)


def test_transitions_of_a_channel_read_in_part_are_each_proved():
    whole, part = secrets.token_bytes(32).hex(), secrets.token_bytes(32).hex()
    r = [secrets.token_bytes(32) for _ in range(4)]
    transitions = [domain.Transition(whole, "a", 0, 1, r[0], 2, r[1]),
                   domain.Transition(part, "b", 1, 1, r[0], 2, r[1]),
                   domain.Transition(whole, "a", 2, 2, r[1], 3, r[2]),
                   domain.Transition(part, "b", 3, 2, r[1], 4, r[3])]
    collapsed = domain.collapse_transitions(transitions, keep={part})
    assert [(t.blinded_id, t.old_size, t.new_size) for t in collapsed] == [(whole, 1, 3), (part, 1, 2), (part, 2, 4)]
    assert [(t.old_size, t.new_size) for t in domain.collapse_transitions(transitions)] == [(1, 3), (1, 4)]


def moved_channel(count: int = 6):
    """A resident channel whose house moved: its entries, leaves and heads (after 4 entries, then all)."""
    texts = {seq: entry_text(f"e{seq}", ["resident:h1"], occurred_at=TIMES[seq]) for seq in range(1, count + 1)}
    leaves = [merkle.leaf_hash(texts[seq].encode()) for seq in sorted(texts)]
    blinded = secrets.token_bytes(32).hex()
    heads = [Head(7, blinded, 4, merkle.root_of(leaves[:4])), Head(9, blinded, count, merkle.root_of(leaves))]
    return texts, leaves, blinded, heads


def bundle_of(texts, leaves, head: Head, seqs, *, entry=None) -> dict:
    """What GET /channels/{c}/proofs?seqs= serves: the entries proved in the channel head of the checkpoint."""
    return {"channel": "resident:h1", "head": {"index": head.index, "size": head.size, "root": domain.b64(head.root)},
            "entries": [{"seq": s, "entry": (entry or {}).get(s, texts[s]),
                         "proof": [domain.b64(p) for p in merkle.inclusion_proof(s - 1, head.size, leaves[:head.size])]}
                        for s in seqs]}


def test_a_channel_read_in_part_proves_each_entry_it_reads_at_its_seq_and_takes_the_others_on_the_proofs():
    texts, leaves, blinded, heads = moved_channel()
    # The old town's witness cosigned the channel at size 2 (entries 1, 2, read whole before the move).
    state = ChannelState(blinded, "resident:h1", 2, merkle.root_of(leaves[:2]), None)
    served = [domain.parse_entry("resident:h1", 5, texts[5])]  # 3, 4 and 6 are the new town's
    assert served[0].occurred_at == TIMES[5]
    new, taken = domain.apply_entries_in_spans(state, heads, served, [bundle_of(texts, leaves, heads[-1], [5])],
                                               spans=(BEFORE,))
    assert (new.size, new.root, new.frontier, [e.seq for e in taken]) == (6, heads[-1].root, None, [5])
    # The new town's witness meets the channel at size 0 and reads its part of it, 3, 4 and 6.
    start = ChannelState(blinded, "resident:h1", frontier=merkle.Frontier())
    mine = [domain.parse_entry("resident:h1", s, texts[s]) for s in (3, 4, 6)]
    bundle = bundle_of(texts, leaves, heads[-1], [3, 4, 6])
    new, taken = domain.apply_entries_in_spans(start, heads, mine, [bundle], spans=(FROM_MOVE,))
    assert (new.size, [e.seq for e in taken]) == (6, [3, 4, 6])
    # Nothing it can read among the new entries: the head is taken on the consistency proofs.
    assert domain.apply_entries_in_spans(start, heads, [], [], spans=(FROM_MOVE,))[0].size == 6

    # An entry inside its span whose bytes were changed is not the leaf at its seq.
    edited = domain.parse_entry("resident:h1", 4, edited_text(texts))
    with refused("entries_mismatch") as raised:
        domain.apply_entries_in_spans(start, heads, [mine[0], edited, mine[2]],
                                      [bundle_of(texts, leaves, heads[-1], [3, 4, 6], entry={4: edited_text(texts)})],
                                      spans=(FROM_MOVE,))
    assert "seq 4" in raised.value.detail and "head 9" in raised.value.detail
    # ... nor may an entry be served at another seq, the proofs route serve other bytes, or prove another head.
    moved = domain.parse_entry("resident:h1", 5, texts[4])
    with refused("entries_mismatch"):
        domain.apply_entries_in_spans(start, heads, [mine[0], moved], [bundle_of(texts, leaves, heads[-1], [3, 5])],
                                      spans=(FROM_MOVE,))
    with refused("entries_mismatch"):
        domain.apply_entries_in_spans(start, heads, mine, [bundle_of(texts, leaves, heads[-1], [3, 4, 6],
                                                                     entry={6: texts[5]})], spans=(FROM_MOVE,))
    with refused("entries_mismatch"):
        domain.apply_entries_in_spans(start, heads, mine, [bundle_of(texts, leaves, heads[0], [3, 4])],
                                      spans=(FROM_MOVE,))
    with refused("entries_mismatch"):  # out of order
        domain.apply_entries_in_spans(start, heads, [mine[1], mine[0]], [bundle], spans=(FROM_MOVE,))
    with refused("unprovable"):  # no proof served for 6
        domain.apply_entries_in_spans(start, heads, mine, [bundle_of(texts, leaves, heads[-1], [3, 4])],
                                      spans=(FROM_MOVE,))
    with refused("unprovable"):
        domain.apply_entries_in_spans(start, heads, mine, [{**bundle, "head": None}], spans=(FROM_MOVE,))
    # The whole channel without a compact range of it: every seq must be served (and proved).
    every = [domain.parse_entry("resident:h1", s, texts[s]) for s in range(3, 7)]
    whole = domain.apply_entries_in_spans(state, heads, every, [bundle_of(texts, leaves, heads[-1], range(3, 7))],
                                          spans=None)
    assert whole[0].size == 6
    with refused("entries_mismatch"):
        domain.apply_entries_in_spans(state, heads, [every[0], *every[2:]],
                                      [bundle_of(texts, leaves, heads[-1], [3, 5, 6])], spans=None)


def edited_text(texts) -> str:
    return texts[4].replace('"e4"', '"e44"')


def test_the_audit_of_a_channel_read_in_part_skips_what_the_witness_no_longer_reads():
    texts, leaves, _, _ = moved_channel()
    # The old town read 1..4 before the move was known: 3 and 4 are the new town's now and no longer served.
    stored = {s: (leaves[s - 1], f"e{s}", TIMES[s]) for s in range(1, 5)}
    served = [(1, texts[1]), (2, texts[2])]
    domain.check_audit("resident:h1", 1, 4, served, stored, spans=(BEFORE,))
    with refused("audit_mismatch") as raised:  # 2 is inside its span: the ledger must still serve it
        domain.check_audit("resident:h1", 1, 4, served[:1], stored, spans=(BEFORE,))
    assert "seq 2" in raised.value.detail
    with refused("audit_mismatch"):  # served inside its span with other bytes
        domain.check_audit("resident:h1", 1, 4, [(1, texts[1]), (2, texts[2] + " ")], stored, spans=(BEFORE,))
    with refused("audit_mismatch"):  # the whole channel: every entry it read must still be served
        domain.check_audit("resident:h1", 1, 4, served, stored)


def test_postings_of_a_house_read_in_part_are_expected_of_the_witness_s_spans_only():
    account = "resident:h1:receivable"
    spans = {"resident:h1": (BEFORE,), "resident:h2": None}
    assert domain.account_spans(account, spans) == (BEFORE,)
    assert domain.account_spans("resident:h2:receivable", spans) is None
    assert domain.account_spans("municipality:old:escrow", spans) is None
    assert domain.account_spans("resident:h3:receivable", spans) is None  # a house it does not follow
    seen = {f"e{s}": (Transfer(account, "gsa:revenue", 100 * s),) for s in (1, 2, 3)}
    times = {"e1": TIMES[1], "e2": TIMES[2], "e3": TIMES[3]}
    mine = domain.seen_in_spans(seen, times, (BEFORE,))
    assert sorted(mine) == ["e1", "e2"] and domain.seen_in_spans(seen, times, None) == seen
    served = [Posting("e1", 0, 100), Posting("e2", 0, 200)]  # e3 (read before the move was known) is not served
    domain.check_postings(account, served, mine)
    with refused("posting_mismatch"):
        domain.check_postings(account, served, seen)  # what the witness would say without its spans
    with refused("posting_mismatch"):
        domain.check_postings(account, [Posting("e1", 0, 100)], mine)  # a posting of its span missing
