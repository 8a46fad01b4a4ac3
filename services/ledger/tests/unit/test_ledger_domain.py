"""Pure ledger rules: membership, access, chaining, batch planning, transfer checks."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest

from energychain_ledger.domain.access import may_see_account, member_key
from energychain_ledger.domain.appends import (
    INVALID_CHANNEL,
    INVALID_TRANSFER,
    Append,
    AppendRefused,
    Head,
    check_channels,
    check_transfers,
    plan_batch,
)
from energychain_ledger.domain.chain import (
    BAD_SIGNATURE,
    BROKEN_LINK,
    CHECKPOINT_MISMATCH,
    GENESIS_HASH,
    HASH_MISMATCH,
    HEAD_MISMATCH,
    SEQUENCE_GAP,
    canonical_json,
    verify_chain,
)
from energychain_ledger.domain.channels import InvalidChannel, channel_spec
from energychain_shared import events

pytestmark = pytest.mark.unit

T0 = datetime(2024, 3, 1, 8, tzinfo=timezone.utc)
HOUSES = {"house-01": "parlier", "house-r01": "reedley"}


def _append(entry_id: str, *channels: str, body: dict | None = None, transfers=()) -> Append:
    body = body if body is not None else {"n": entry_id}
    return Append(entry_id=entry_id, channels=channels, kind="Test", event_time=T0, producer="billing",
                  payload=body, transfers=tuple(transfers), signature="sig", digest=f"d-{entry_id}-{sorted(body.items())}")


def _chain(*appends: Append, channel: str = "resident:house-01"):
    plan = plan_batch(appends, heads={channel: Head(0, GENESIS_HASH)}, existing_digests={})
    return plan, [r for r in plan.rows if r.channel == channel]


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
    rule = dict(role="resident", house_id="house-01", municipality_id="parlier", municipality_of_house=HOUSES.get)
    assert may_see_account("resident:house-01:receivable", **rule)
    assert not may_see_account("resident:house-02:receivable", **rule)
    assert not may_see_account("municipality:parlier:escrow", **rule)
    assert not may_see_account("gsa:cash", **rule)


def test_municipality_sees_its_accounts_and_its_residents_but_not_other_municipalities():
    rule = dict(role="municipality", house_id=None, municipality_id="parlier", municipality_of_house=HOUSES.get)
    assert may_see_account("municipality:parlier:treasury", **rule)
    assert may_see_account("resident:house-01:escrow-debt", **rule)
    assert not may_see_account("resident:house-r01:receivable", **rule)
    assert not may_see_account("municipality:reedley:escrow", **rule)
    assert not may_see_account("gsa:revenue", **rule)


def test_gsa_sees_every_account_and_member_key_follows_role():
    assert may_see_account("external:payment-rails", role="gsa", house_id=None, municipality_id=None,
                           municipality_of_house=HOUSES.get)
    assert member_key(role="resident", house_id="house-01", municipality_id="parlier") == "resident:house-01"
    assert member_key(role="municipality", house_id=None, municipality_id="parlier") == "municipality:parlier"
    assert member_key(role="resident", house_id=None, municipality_id=None) is None


def test_canonical_json_is_the_shared_contract_encoding():
    value = {"b": [1, "é", {"z": None, "a": True}], "a": "x"}
    assert canonical_json(value) == events.canonical_json(value)


def test_batch_gets_gapless_sequence_linked_by_hash():
    plan, rows = _chain(_append("a", "resident:house-01"), _append("b", "resident:house-01"),
                        _append("c", "resident:house-01"))
    assert [r.seq for r in rows] == [1, 2, 3]
    assert rows[0].prev_hash == GENESIS_HASH and rows[1].prev_hash == rows[0].hash and rows[2].prev_hash == rows[1].hash
    assert plan.heads["resident:house-01"] == Head(3, rows[2].hash)


def test_entry_on_several_channels_gets_one_position_on_each():
    heads = {"resident:house-01": Head(4, "h" * 64), "municipality:parlier": Head(0, GENESIS_HASH)}
    plan = plan_batch([_append("a", "resident:house-01", "municipality:parlier")], heads=heads, existing_digests={})
    positions = {r.channel: (r.seq, r.prev_hash) for r in plan.rows}
    assert positions == {"resident:house-01": (5, "h" * 64), "municipality:parlier": (1, GENESIS_HASH)}


def test_redelivered_entry_with_same_digest_is_a_duplicate_that_changes_nothing():
    first = _append("a", "resident:house-01")
    plan = plan_batch([first, first], heads={"resident:house-01": Head(0, GENESIS_HASH)},
                      existing_digests={})
    assert len(plan.rows) == 1 and plan.duplicates == [first] and not plan.conflicts
    again = plan_batch([first], heads={"resident:house-01": Head(1, "x" * 64)}, existing_digests={"a": first.digest})
    assert again.rows == [] and again.duplicates == [first] and again.heads["resident:house-01"] == Head(1, "x" * 64)


def test_entry_id_reused_with_different_body_is_a_conflict_never_an_overwrite():
    original, other = _append("a", "resident:house-01"), _append("a", "resident:house-01", body={"n": "changed"})
    plan = plan_batch([other], heads={"resident:house-01": Head(1, "x" * 64)},
                      existing_digests={"a": original.digest})
    assert plan.rows == [] and plan.conflicts[0][0] is other and "different body" in plan.conflicts[0][1]


def test_transfers_become_postings_that_sum_to_zero():
    transfer = {"debit_account": "gsa:cash", "credit_account": "resident:house-01:receivable",
                "amount_cents": 1234, "memo": "payment"}
    plan = plan_batch([_append("p", "resident:house-01", transfers=[transfer])],
                      heads={"resident:house-01": Head(0, GENESIS_HASH)}, existing_digests={})
    assert {(p.account, p.amount_cents) for p in plan.postings} == {
        ("gsa:cash", 1234), ("resident:house-01:receivable", -1234)}
    assert sum(p.amount_cents for p in plan.postings) == 0


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


def _verify(rows, **kwargs):
    return verify_chain(rows, channel="resident:house-01", signature_ok=lambda r: r.signature == "sig", **kwargs)


def test_intact_chain_verifies_and_confirms_its_checkpoint():
    _, rows = _chain(*(_append(str(i), "resident:house-01") for i in range(4)))
    report = _verify(rows, head=(4, rows[-1].hash), checkpoints={2: rows[1].hash})
    assert report.ok and report.entries_checked == 4 and report.checkpoints_confirmed == (2,)


def test_altered_payload_is_a_hash_mismatch_naming_the_entry():
    _, rows = _chain(*(_append(str(i), "resident:house-01") for i in range(4)))
    rows[2] = replace(rows[2], payload={"n": "forged"})
    failure = _verify(rows).failure
    assert (failure.seq, failure.entry_id, failure.problem) == (3, "2", HASH_MISMATCH)


def test_rehashed_forgery_breaks_the_next_link():
    from energychain_ledger.domain.chain import entry_hash

    _, rows = _chain(*(_append(str(i), "resident:house-01") for i in range(4)))
    forged = replace(rows[1], payload={"n": "forged"})
    rows[1] = replace(forged, hash=entry_hash(forged))
    failure = _verify(rows).failure
    assert (failure.seq, failure.problem) == (3, BROKEN_LINK)


def test_removed_entry_is_a_sequence_gap_and_removed_tail_a_head_mismatch():
    _, rows = _chain(*(_append(str(i), "resident:house-01") for i in range(4)))
    gap = _verify(rows[:1] + rows[2:]).failure
    assert (gap.seq, gap.problem) == (3, SEQUENCE_GAP)
    tail = _verify(rows[:3], head=(4, rows[3].hash)).failure
    assert (tail.seq, tail.problem) == (4, HEAD_MISMATCH)


def test_bad_signature_and_checkpoint_mismatch_are_reported():
    _, rows = _chain(*(_append(str(i), "resident:house-01") for i in range(3)))
    assert _verify(rows, checkpoints={2: "f" * 64}).failure.problem == CHECKPOINT_MISMATCH
    report = verify_chain(rows, channel="resident:house-01", signature_ok=lambda r: r.entry_id != "1")
    assert (report.failure.seq, report.failure.problem) == (2, BAD_SIGNATURE)


def test_verification_can_start_from_a_checkpoint():
    _, rows = _chain(*(_append(str(i), "resident:house-01") for i in range(4)))
    report = _verify(rows[2:], start_seq=2, start_hash=rows[1].hash, head=(4, rows[3].hash))
    assert report.ok and report.entries_checked == 2
