"""Pure ledger rules: membership, access, transfer checks, and how a batch lands in the verifiable log."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import pytest

from energychain_ledger.domain.access import account_visibility, member_key
from energychain_ledger.domain.appends import (
    INVALID_CHANNEL,
    INVALID_TRANSFER,
    Append,
    AppendRefused,
    check_channels,
    check_transfers,
)
from energychain_ledger.domain.channels import InvalidChannel, channel_spec
from energychain_ledger.domain.log import HEADS_TREE, ChannelTree, plan_batch
from energychain_ledger.domain.membership import Span
from energychain_shared import rules
from energychain_shared.tlog import merkle
from energychain_shared.tlog.heads import blinded_channel_id, head_leaf_data
from energychain_shared.tlog.merkle import Frontier

pytestmark = pytest.mark.unit

T0 = datetime(2024, 3, 1, 8, tzinfo=timezone.utc)
HOUSES = {"house-01": "parlier", "house-r01": "reedley"}
SPANS = {house: (Span(town),) for house, town in HOUSES.items()}


def _spans(house: str) -> tuple[Span, ...]:
    return SPANS.get(house, ())
SALT = bytes(range(32))


def _append(entry_id: str, *channels: str, body: dict | None = None, transfers=()) -> Append:
    body = body if body is not None else {"n": entry_id}
    entry = rules.canonical_json({"entry_id": entry_id, "channels": list(channels), "body": body,
                                   "transfers": list(transfers)})
    return Append(entry_id=entry_id, channels=channels, kind="Test", event_time=T0, producer="billing",
                  entry=entry, signature="sig", transfers=tuple(transfers))


def _trees(*channels: str, sizes: dict[str, list[bytes]] | None = None) -> dict[str, ChannelTree]:
    trees = {}
    for tree_id, channel in enumerate(channels, start=1):
        frontier = Frontier()
        for leaf in (sizes or {}).get(channel, []):
            frontier.append(leaf)
        trees[channel] = ChannelTree(channel, tree_id, blinded_channel_id(channel, SALT), frontier)
    return trees


def test_resident_channel_members_are_resident_its_municipality_and_gsa():
    assert channel_spec("resident:house-01", house_municipality=HOUSES).members == {
        "resident:house-01", "municipality:parlier", "gsa"}


def test_municipality_channel_members_are_municipality_and_gsa_and_gsa_channel_is_gsa_alone():
    assert channel_spec("municipality:reedley", house_municipality=HOUSES).members == {"municipality:reedley", "gsa"}
    assert channel_spec("gsa", house_municipality=HOUSES).members == {"gsa"}


def test_resident_channel_of_unregistered_house_has_no_municipality_member():
    spec = channel_spec("resident:house-99", house_municipality=HOUSES)
    assert spec.members == {"resident:house-99", "gsa"} and spec.municipality_id is None


@pytest.mark.parametrize("name", ["", "resident:", "treasury:parlier", "resident:a b", "gsa:x"])
def test_malformed_channel_name_is_invalid(name):
    with pytest.raises(InvalidChannel):
        channel_spec(name, house_municipality=HOUSES)


def test_resident_sees_only_its_own_accounts():
    rule = dict(role="resident", house_id="house-01", municipality_id="parlier", spans_of_house=_spans)
    assert not account_visibility("resident:house-01:receivable", **rule).nothing
    assert account_visibility("resident:house-02:receivable", **rule).nothing
    assert account_visibility("municipality:parlier:escrow", **rule).nothing
    assert account_visibility("gsa:cash", **rule).nothing


def test_municipality_sees_its_accounts_and_its_residents_but_not_other_municipalities():
    rule = dict(role="municipality", house_id=None, municipality_id="parlier", spans_of_house=_spans)
    assert not account_visibility("municipality:parlier:treasury", **rule).nothing
    assert not account_visibility("resident:house-01:escrow-debt", **rule).nothing
    assert account_visibility("resident:house-r01:receivable", **rule).nothing
    assert account_visibility("municipality:reedley:escrow", **rule).nothing
    assert account_visibility("gsa:revenue", **rule).nothing


def test_gsa_sees_every_account_and_member_key_follows_role():
    assert not account_visibility("external:payment-rails", role="gsa", house_id=None, municipality_id=None,
                              spans_of_house=_spans).nothing
    assert member_key(role="resident", house_id="house-01", municipality_id="parlier") == "resident:house-01"
    assert member_key(role="municipality", house_id=None, municipality_id="parlier") == "municipality:parlier"
    assert member_key(role="resident", house_id=None, municipality_id=None) is None


def test_a_batch_makes_each_entry_the_next_leaf_of_its_channel_tree():
    appends = [_append(i, "resident:house-01") for i in "abc"]
    plan = plan_batch(appends, trees=_trees("resident:house-01"), log=Frontier(), existing={}, record_time=T0)
    assert [(r.tree_id, r.seq) for r in plan.entries] == [(1, 1), (1, 2), (1, 3)]
    leaves = [merkle.leaf_hash(a.entry) for a in appends]
    assert [r.leaf for r in plan.entries] == leaves
    tree = plan.trees["resident:house-01"]
    assert tree.frontier.size == 3 and tree.frontier.root() == merkle.root_of(leaves)


def test_the_leaf_is_sha256_of_0x00_and_the_entry_bytes():
    append = _append("a", "gsa")
    plan = plan_batch([append], trees=_trees("gsa"), log=Frontier(), existing={}, record_time=T0)
    assert plan.entries[0].leaf == hashlib.sha256(b"\x00" + append.entry).digest()


def test_entry_on_several_channels_gets_one_position_on_each_and_one_head_each():
    earlier = [merkle.leaf_hash(b"x%d" % i) for i in range(4)]
    trees = _trees("resident:house-01", "municipality:parlier", sizes={"resident:house-01": earlier})
    plan = plan_batch([_append("a", "resident:house-01", "municipality:parlier")], trees=trees, log=Frontier(),
                      existing={}, record_time=T0)
    assert {(r.tree_id, r.seq) for r in plan.entries} == {(1, 5), (2, 1)}
    assert [(h.log_index, h.tree_id, h.size) for h in plan.heads] == [(0, 1, 5), (1, 2, 1)]
    assert trees["resident:house-01"].frontier.size == 4  # the caller's trees are left as they were


def test_every_changed_channel_head_is_one_leaf_of_the_log_of_heads_whatever_the_batch_holds():
    channels = [f"resident:h{i}" for i in range(50)]
    appends = [_append(f"{c}-{n}", c) for n in range(3) for c in channels]
    plan = plan_batch(appends, trees=_trees(*channels), log=Frontier(), existing={}, record_time=T0)
    assert len(plan.heads) == 50 and plan.log.size == 50  # one head per changed channel, not per entry
    expected = [merkle.leaf_hash(head_leaf_data(plan.trees[c].blinded_id, 3, plan.trees[c].frontier.root()))
                for c in channels]
    assert plan.log.root() == merkle.root_of(expected)
    assert [h.root for h in plan.heads] == [plan.trees[c].frontier.root() for c in channels]


def test_subtrees_of_height_4_8_12_are_stored_for_channel_trees_and_the_log():
    channel = "resident:house-01"
    plan = plan_batch([_append(str(i), channel) for i in range(256)], trees=_trees(channel), log=Frontier(),
                      existing={}, record_time=T0)
    levels = sorted((level, index) for tree, level, index, _ in plan.nodes if tree == 1)
    assert levels == [(4, i) for i in range(16)] + [(8, 0)]
    leaves = [r.leaf for r in plan.entries]
    stored = {(level, index): digest for tree, level, index, digest in plan.nodes if tree == 1}
    assert stored[(4, 3)] == merkle.root_of(leaves[48:64]) and stored[(8, 0)] == merkle.root_of(leaves)
    log = Frontier()
    for _ in range(15):
        log.append(b"\x01" * 32)
    again = plan_batch([_append("x", channel)], trees=plan.trees, log=log, existing={}, record_time=T0)
    assert [(t, level, index) for t, level, index, _ in again.nodes] == [(HEADS_TREE, 4, 0)]


def test_redelivered_entry_with_the_same_bytes_is_a_duplicate_that_changes_nothing():
    first = _append("a", "resident:house-01")
    plan = plan_batch([first, first], trees=_trees("resident:house-01"), log=Frontier(), existing={}, record_time=T0)
    assert len(plan.entries) == 1 and plan.duplicates == [first] and not plan.conflicts
    again = plan_batch([first], trees=_trees("resident:house-01"), log=Frontier(), existing={"a": first.entry}, record_time=T0)
    assert again.entries == [] and again.heads == [] and not again.changed and again.duplicates == [first]


def test_entry_id_reused_with_different_body_is_a_conflict_never_an_overwrite():
    original, other = _append("a", "resident:house-01"), _append("a", "resident:house-01", body={"n": "changed"})
    plan = plan_batch([other], trees=_trees("resident:house-01"), log=Frontier(), existing={"a": original.entry}, record_time=T0)
    assert plan.entries == [] and plan.conflicts[0][0] is other and "different body" in plan.conflicts[0][1]


def test_transfers_become_postings_that_sum_to_zero():
    transfer = {"debit_account": "gsa:cash", "credit_account": "resident:house-01:receivable",
                "amount_cents": 1234, "memo": "payment"}
    plan = plan_batch([_append("p", "resident:house-01", transfers=[transfer])],
                      trees=_trees("resident:house-01"), log=Frontier(), existing={}, record_time=T0)
    assert {(p.account, p.amount_cents) for p in plan.postings} == {
        ("gsa:cash", 1234), ("resident:house-01:receivable", -1234)}
    assert sum(p.amount_cents for p in plan.postings) == 0


def test_the_blinded_channel_id_needs_the_salt_and_names_no_channel():
    blinded = blinded_channel_id("resident:house-01", SALT)
    assert blinded == hashlib.sha256(b"energychain/channel/v1\x00" + SALT + b"resident:house-01").digest()
    assert blinded != blinded_channel_id("resident:house-01", bytes(32))
    assert b"house" not in head_leaf_data(blinded, 7, bytes(32))


@pytest.mark.parametrize("amount", [0, -5, 1.5, "10", True])
def test_transfer_amount_must_be_positive_integer_cents(amount):
    with pytest.raises(AppendRefused) as refused:
        check_transfers([{"debit_account": "gsa:cash", "credit_account": "gsa:revenue", "amount_cents": amount}])
    assert refused.value.reason == INVALID_TRANSFER


def test_transfer_between_the_same_account_is_refused():
    with pytest.raises(AppendRefused, match="same account") as refused:
        check_transfers([{"debit_account": "gsa:cash", "credit_account": "gsa:cash", "amount_cents": 5}])
    assert refused.value.reason == INVALID_TRANSFER




def test_channels_must_be_well_formed_and_named_once():
    check_channels(["resident:house-01", "municipality:parlier"])
    for bad in (["resident:house-01", "resident:house-01"], ["bogus"], []):
        with pytest.raises(AppendRefused) as refused:
            check_channels(bad)
        assert refused.value.reason == INVALID_CHANNEL
