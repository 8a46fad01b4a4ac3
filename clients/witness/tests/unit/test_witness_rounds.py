"""Rounds against a ledger peer built from the real Merkle and signed-note code: what is cosigned, what is refused."""

from __future__ import annotations

import asyncio
import json
import secrets

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from energychain_shared.tlog import note
from energychain_shared.tlog.heads import head_leaf_data

from energychain_witness import domain
from energychain_witness.client import LedgerClient, LedgerError
from energychain_witness.service import run_rounds

pytestmark = pytest.mark.unit

H1, H2, MUNI, GSA = "resident:h1", "resident:h2", "municipality:parlier", "gsa"


def invoice(ledger, house: str, cents: int):
    """An entry on a resident's and the municipality's channel moving money between two visible accounts."""
    return ([house, MUNI], [ledger.transfer(f"{house}:receivable", "municipality:parlier:escrow", cents)])


def seed(ledger) -> int:
    """Member channels h1, h2 and the municipality's, and the GSA's channel the witness may not read."""
    for name in (H1, H2, MUNI):
        ledger.channel(name)
    ledger.channel(GSA, member=False)
    ledger.append([H1], [H1], [H2])
    return ledger.append(invoice(ledger, H1, 1250), [GSA], [H2])


def cosigned_timestamp(ledger, size: int) -> int | None:
    served = ledger.checkpoint_json(size)
    return note.verify_cosignature(note.parse_note(served["note"]), name=ledger.witness_name,
                                   public_key=ledger.witnesses[ledger.witness_name])


async def test_a_growing_log_is_cosigned_round_after_round(ledger, open_witness):
    witness = open_witness()
    size = seed(ledger)
    outcome = await witness.round()
    assert (outcome.status, outcome.size, outcome.submitted) == ("cosigned", size, True)
    assert outcome.entries_read == 3 + 2 + 1  # h1: 3, h2: 2, the municipality: 1 (the invoice is on two)
    assert cosigned_timestamp(ledger, size) is not None
    assert ledger.checkpoint_json(size)["cosigned_by"] == [ledger.witness_name]

    bigger = ledger.append(invoice(ledger, H2, 990), [H1], [GSA])
    outcome = await witness.round()
    assert (outcome.status, outcome.size) == ("cosigned", bigger)
    assert cosigned_timestamp(ledger, bigger) is not None
    assert (await witness.round()).status == "unchanged"

    state = witness.store.load_state()
    assert state.size == bigger and state.heads.root() == ledger.heads_root()
    members = state.member_channels()
    assert {n: c.size for n, c in members.items()} == {H1: 4, H2: 3, MUNI: 2}
    assert all(members[n].frontier.root() == ledger.channels[n].root() for n in members)
    gsa = ledger.channels[GSA].blinded_id
    assert gsa not in state.channels  # a member witness never follows a channel it cannot read
    assert not any("/channels/gsa" in r for r in ledger.requests)


async def test_each_round_cosigns_only_the_newest_checkpoint_and_skips_none_of_the_checks(ledger, open_witness):
    witness = open_witness()
    seed(ledger)
    ledger.append([H1])
    size = ledger.append([H2], [H1])
    assert (await witness.round()).size == size
    assert sorted(ledger.cosignatures) == [size]


async def test_a_smaller_checkpoint_is_a_rollback_and_nothing_is_cosigned(ledger, open_witness):
    witness = open_witness()
    old = seed(ledger)
    ledger.append([H1])
    assert (await witness.round()).status == "cosigned"
    ledger.serve_checkpoint = lambda _: ledger.checkpoint_json(old)
    outcome = await witness.round()
    assert (outcome.status, outcome.reason) == ("refused", "rollback")
    assert f"size {old}" in outcome.detail
    assert witness.store.refusals()[0].reason == "rollback"
    # It cosigns again once the ledger serves a checkpoint extending the last one.
    ledger.serve_checkpoint = None
    newer = ledger.append([H2])
    assert (await witness.round()).size == newer


async def test_the_same_size_with_another_root_is_a_fork(ledger, open_witness):
    witness = open_witness()
    size = seed(ledger)
    await witness.round()
    forged = ledger.sign(size, secrets.token_bytes(32))
    ledger.serve_checkpoint = lambda answer: {**answer, "note": forged}
    outcome = await witness.round()
    assert (outcome.status, outcome.reason, outcome.size) == ("refused", "fork", size)


async def test_a_checkpoint_not_signed_by_the_pinned_key_is_refused(ledger, open_witness):
    witness = open_witness()
    seed(ledger)
    other = Ed25519PrivateKey.generate()
    ledger.serve_checkpoint = lambda answer: {**answer, "note": ledger.sign(answer["size"], ledger.heads_root(),
                                                                            key=other)}
    outcome = await witness.round()
    assert (outcome.status, outcome.reason) == ("refused", "bad_signature")
    assert not ledger.cosignatures


async def test_a_rewritten_log_of_heads_fails_the_consistency_proof(ledger, open_witness):
    witness = open_witness()
    seed(ledger)
    await witness.round()
    channel = ledger.channels[H1]
    ledger.heads[0] = head_leaf_data(bytes.fromhex(channel.blinded_id), 1, secrets.token_bytes(32))
    ledger.append([H2])
    outcome = await witness.round()
    assert (outcome.status, outcome.reason) == ("refused", "inconsistent_log")


async def test_heads_log_leaves_that_do_not_give_the_root_are_refused(ledger, open_witness):
    witness = open_witness()
    seed(ledger)
    await witness.round()
    ledger.append([H1], [H2])

    def tamper(heads):
        heads[-1] = {**heads[-1], "root": domain.b64(secrets.token_bytes(32))}
        return heads

    ledger.serve_heads = tamper
    outcome = await witness.round()
    assert (outcome.status, outcome.reason) == ("refused", "heads_mismatch")
    ledger.serve_heads = lambda heads: heads[:-1]  # one leaf short
    assert (await witness.round()).reason == "heads_mismatch"


@pytest.mark.parametrize("rewrite", ["reorder", "remove"])
async def test_a_channel_head_that_does_not_extend_the_previous_one_is_refused(ledger, open_witness, rewrite):
    witness = open_witness()
    seed(ledger)
    assert (await witness.round()).status == "cosigned"
    entries = ledger.channels[H1].entries
    if rewrite == "reorder":
        entries[0], entries[1] = entries[1], entries[0]
        ledger.append([H1])
    else:
        del entries[1]
        ledger.append([H1], [H1])
    outcome = await witness.round()
    assert (outcome.status, outcome.reason) == ("refused", "channel_inconsistent")
    assert H1 in outcome.detail


async def test_entries_whose_leaves_do_not_give_the_head_are_refused(ledger, open_witness):
    witness = open_witness()
    seed(ledger)
    await witness.round()
    ledger.append([H2], [H2])

    def tamper(channel, rows):
        if channel == H2:
            rows = [{**r, "entry": r["entry"].replace('"n":', '"n": ')} if r["seq"] == 4 else r for r in rows]
        return rows

    ledger.serve_entries = tamper
    outcome = await witness.round()
    assert (outcome.status, outcome.reason) == ("refused", "entries_mismatch")
    assert H2 in outcome.detail
    ledger.serve_entries = lambda channel, rows: rows[:-1] if channel == H2 else rows  # the last one withheld
    outcome = await witness.round()
    assert outcome.reason == "entries_mismatch" and "up to seq" in outcome.detail


async def test_a_first_round_reads_every_entry_and_checks_it(ledger, open_witness):
    witness = open_witness()
    seed(ledger)
    ledger.serve_entries = lambda channel, rows: [{**r, "entry": r["entry"].replace("é", "e")} for r in rows]
    outcome = await witness.round()
    assert (outcome.status, outcome.reason) == ("refused", "entries_mismatch")


async def test_a_posting_that_differs_from_its_transfer_is_refused(ledger, open_witness):
    witness = open_witness()
    seed(ledger)
    await witness.round()
    ledger.append(invoice(ledger, H2, 4000))
    account = f"{H2}:receivable"

    def tamper(name, rows):
        return [{**r, "amount_cents": r["amount_cents"] + 1} if name == account else r for r in rows]

    ledger.serve_postings = tamper
    outcome = await witness.round()
    assert (outcome.status, outcome.reason) == ("refused", "posting_mismatch")
    assert account in outcome.detail
    ledger.serve_postings = lambda name, rows: [] if name == account else rows  # the posting withheld
    outcome = await witness.round()
    assert outcome.reason == "posting_mismatch" and "posted 0 times, not 1" in outcome.detail
    ledger.serve_postings = None
    assert (await witness.round()).status == "cosigned"


async def test_postings_of_older_entries_are_compared_too(ledger, open_witness):
    witness = open_witness(audit_accounts=100)
    seed(ledger)
    await witness.round()
    ledger.serve_postings = lambda name, rows: [{**r, "transfer_index": 3} for r in rows]
    ledger.append([H2])  # no transfers at all: the rolling comparison still reads the visible accounts
    outcome = await witness.round()
    assert (outcome.status, outcome.reason) == ("refused", "posting_mismatch")
    assert "has 1 transfers" in outcome.detail


async def test_an_older_entry_served_differently_is_an_audit_mismatch(ledger, open_witness):
    witness = open_witness()
    seed(ledger)
    await witness.round()
    first = json.loads(ledger.channels[H1].entries[0])["entry_id"]

    def tamper(channel, rows):
        return [{**r, "entry": r["entry"].replace('"n":1', '"n":9')} if channel == H1 and r["seq"] == 1 else r
                for r in rows]

    ledger.serve_entries = tamper
    ledger.append([H2])
    outcome = await witness.round()
    assert (outcome.status, outcome.reason) == ("refused", "audit_mismatch")
    assert f"channel {H1} seq 1 (entry {first})" in outcome.detail


async def test_the_rolling_audit_moves_on_and_wraps_around(ledger, open_witness):
    witness = open_witness(audit_entries=2)
    ledger.channel(H1)
    ledger.append([H1], [H1], [H1], [H1], [H1])
    await witness.round()
    cursors = []
    for _ in range(3):
        ledger.append([H2])
        assert (await witness.round()).status == "cosigned"
        cursors.append(witness.store.load_state().member_channels()[H1].audit_cursor)
    assert cursors == [2, 4, 1]  # seqs 1-2, 3-4, then 5 and (wrapping) 1

    def tamper(channel, rows):
        return [{**r, "entry": r["entry"] + " "} if channel == H1 and r["seq"] == 3 else r for r in rows]

    ledger.serve_entries = tamper
    ledger.append([H2])
    outcome = await witness.round()  # seqs 2-3 this time
    assert (outcome.reason, f"channel {H1} seq 3" in outcome.detail) == ("audit_mismatch", True)


async def test_a_proof_the_ledger_cannot_serve_makes_the_checkpoint_unprovable(ledger, open_witness):
    witness = open_witness()
    seed(ledger)
    await witness.round()
    ledger.append([H1])
    ledger.fail_routes["/log/proof/consistency"] = 404
    outcome = await witness.round()
    assert (outcome.status, outcome.reason) == ("refused", "unprovable")
    assert "GET /log/proof/consistency: 404" in outcome.detail
    del ledger.fail_routes["/log/proof/consistency"]
    ledger.fail_routes["/log/channels/"] = 422
    assert (await witness.round()).reason == "unprovable"


@pytest.mark.parametrize("status", [500, 503])
async def test_a_ledger_failing_to_answer_refuses_nothing_and_the_next_round_cosigns(ledger, open_witness, status):
    """A 5xx (the ledger restarting, its database away) is not a refusal of the checkpoint: the round fails."""
    witness = open_witness()
    seed(ledger)
    await witness.round()
    size = ledger.append([H1])
    ledger.fail_routes["/log/proof/consistency"] = status
    with pytest.raises(LedgerError):
        await witness.round()
    assert witness.store.refusals() == [] and str(status) in witness.last_error
    del ledger.fail_routes["/log/proof/consistency"]
    assert ((outcome := await witness.round()).status, outcome.size) == ("cosigned", size)


async def test_the_same_refusal_again_is_counted_not_repeated(ledger, open_witness):
    witness = open_witness()
    seed(ledger)
    await witness.round()
    ledger.append([H1])
    ledger.fail_routes["/log/heads"] = 404
    for _ in range(3):
        await witness.round()
    refusals = witness.store.refusals()
    assert len(refusals) == 1 and refusals[0].repeats == 3


async def test_killed_after_storing_and_before_submitting_it_sends_the_same_cosignature_on_restart(
    ledger, open_witness,
):
    witness = open_witness()
    seed(ledger)
    await witness.round()
    size = ledger.append([H1], invoice(ledger, H2, 700))
    ledger.kill_on_submit = True
    with pytest.raises(ledger.Killed):
        await witness.round()
    stored = witness.store.last_cosigned()
    assert (stored.size, stored.submitted) == (size, False)
    assert size not in ledger.cosignatures

    ledger.kill_on_submit = False
    restarted = open_witness()
    await restarted.start()
    assert ledger.cosignatures[size] == [stored.signature]  # the very line stored, not a new one
    assert restarted.store.last_cosigned().submitted

    # And it cosigns nothing inconsistent with what it stored: neither a fork at that size...
    forged = ledger.sign(size, secrets.token_bytes(32))
    ledger.serve_checkpoint = lambda answer: {**answer, "note": forged}
    assert (await restarted.round()).reason == "fork"
    # ... nor a larger log rewritten under it.
    ledger.serve_checkpoint = None
    ledger.heads[1] = head_leaf_data(bytes.fromhex(ledger.channels[H2].blinded_id), 9, secrets.token_bytes(32))
    ledger.append([H1])
    assert (await restarted.round()).reason == "inconsistent_log"
    assert restarted.store.last_cosigned().size == size


async def test_a_pending_cosignature_is_sent_again_when_the_ledger_was_unreachable(ledger, open_witness):
    witness = open_witness()
    size = seed(ledger)
    original = ledger.handler
    down = {"on": True}

    def flaky(request):
        if down["on"] and request.url.path == "/log/cosignatures":
            raise httpx.ConnectError("connection refused", request=request)
        return original(request)

    witness.client._http._transport = httpx.MockTransport(flaky)
    outcome = await witness.round()
    assert (outcome.status, outcome.submitted) == ("cosigned", False)
    down["on"] = False
    assert (await witness.round()).status == "unchanged"
    assert ledger.cosignatures[size] == [outcome.signature]


async def test_killed_mid_round_before_storing_it_redoes_the_round(ledger, open_witness):
    witness = open_witness()
    seed(ledger)
    await witness.round()
    size = ledger.append([H1], [H2])

    def die(channel, rows):
        raise ledger.Killed()

    ledger.serve_entries = die
    with pytest.raises(ledger.Killed):
        await witness.round()
    ledger.serve_entries = None
    restarted = open_witness()
    assert (await restarted.round()).size == size


async def test_the_auditor_checks_every_blinded_channel_by_its_consistency_proof(ledger, open_witness):
    ledger.role = "auditor"
    witness = open_witness()
    size = seed(ledger)
    outcome = await witness.round()
    assert (outcome.status, outcome.size) == ("cosigned", size)
    assert outcome.entries_read == 0
    state = witness.store.load_state()
    assert set(state.channels) == {c.blinded_id for c in ledger.channels.values()}
    assert all(c.name is None for c in state.channels.values())
    assert not any(r.startswith("GET /channels") or r.startswith("GET /accounts") for r in ledger.requests)

    ledger.append([GSA], [H1])
    assert (await witness.round()).status == "cosigned"
    assert any(r.startswith("GET /log/channels/") for r in ledger.requests)

    entries = ledger.channels[GSA].entries
    entries[0], entries[1] = entries[1], entries[0]
    ledger.append([GSA])
    outcome = await witness.round()
    assert (outcome.status, outcome.reason) == ("refused", "channel_inconsistent")
    assert ledger.channels[GSA].blinded_id in outcome.detail


async def test_a_channel_head_smaller_than_the_previous_one_is_a_channel_rollback(ledger, open_witness):
    ledger.role = "auditor"
    witness = open_witness()
    seed(ledger)
    await witness.round()
    ledger.append_head(H1, size=1)
    ledger.add_checkpoint()
    outcome = await witness.round()
    assert (outcome.status, outcome.reason) == ("refused", "channel_rollback")


async def test_the_store_is_bound_to_one_mode(ledger, open_witness):
    witness = open_witness()
    seed(ledger)
    await witness.round()
    ledger.role = "auditor"
    restarted = open_witness()
    with pytest.raises(Exception, match="mode"):
        await restarted.round()


async def test_an_expired_token_is_renewed_and_a_wrong_password_is_not_a_refusal(ledger, open_witness):
    witness = open_witness()
    seed(ledger)
    await witness.round()
    ledger.valid_tokens.clear()
    ledger.append([H1])
    assert (await witness.round()).status == "cosigned"
    locked_out = open_witness(password="wrong")
    with pytest.raises(LedgerError, match="POST /auth/token: 401"):
        await locked_out.round()
    assert not locked_out.store.refusals()


async def test_the_loop_survives_an_unreachable_ledger_and_stops_when_told(ledger, open_witness):
    witness = open_witness()
    size = seed(ledger)
    calls = {"n": 0}
    original = ledger.handler

    def flaky(request):
        calls["n"] += 1
        if calls["n"] <= 3:
            raise httpx.ConnectError("connection refused", request=request)
        return original(request)

    witness.client._http._transport = httpx.MockTransport(flaky)
    stop = asyncio.Event()
    task = asyncio.create_task(run_rounds(witness, interval_s=0.01, stop=stop))
    for _ in range(500):
        if witness.store.last_cosigned() is not None and witness.store.last_cosigned().submitted:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert witness.store.last_cosigned().size == size


async def test_ledger_errors_name_the_route(ledger):
    client = LedgerClient("http://ledger.test", username="witness", password="secret",
                          transport=httpx.MockTransport(ledger.handler))
    ledger.fail_routes["/log/checkpoints/"] = 404
    with pytest.raises(LedgerError) as raised:
        await client.checkpoint_at(7)
    assert str(raised.value) == "GET /log/checkpoints/{size}: 404 cannot serve that now"
    await client.aclose()


async def test_a_ledger_without_a_checkpoint_yet_is_nothing_to_cosign(ledger, open_witness):
    witness = open_witness()
    ledger.fail_routes["/log/checkpoint"] = 404  # the ledger's answer before anything was appended
    outcome = await witness.round()
    assert (outcome.status, outcome.describe()) == ("empty", "the ledger has no checkpoint yet")
    del ledger.fail_routes["/log/checkpoint"]
    size = seed(ledger)
    assert (await witness.round()).size == size


@pytest.mark.parametrize(("role", "proofs"), [("municipality", 1), ("auditor", 3)])
async def test_several_heads_of_a_channel_in_one_round(ledger, open_witness, role, proofs):
    """The auditor proves each head; a member proves the last one and recomputes every head from the entries."""
    ledger.role = role
    witness = open_witness()
    seed(ledger)
    await witness.round()
    ledger.append([H1])
    ledger.append([H1])
    size = ledger.append([H1])
    ledger.requests.clear()
    assert (await witness.round()).size == size
    assert sum(r.startswith("GET /log/channels/") for r in ledger.requests) == proofs


async def test_a_channel_the_login_no_longer_reads_is_not_followed_until_it_is_listed_again(ledger, open_witness):
    witness = open_witness()
    seed(ledger)
    await witness.round()
    ledger.members.discard(H2)
    size = ledger.append([H2], [H1])
    assert (await witness.round()).size == size  # not refused for what it may no longer read
    assert witness.store.load_state().member_channels()[H2].size == 2
    ledger.members.add(H2)
    size = ledger.append([H2])
    assert (await witness.round()).size == size  # picks up from its own last head: entries 3 and 4
    assert witness.store.load_state().member_channels()[H2].size == 4


# ---------------------------------------------------------------- membership by date

MOVED = "2026-02-01T08:00:00Z"  # h1 moved to another town from this instant (the entries of seed() are before)
BEFORE_MOVE = [{"municipality_id": "parlier", "member_from": None, "member_until": MOVED}]
LATE, AFTER = "2026-01-20T00:00:00+00:00", "2026-03-01T00:00:00+00:00"  # event times before / after the move


async def test_a_house_that_moved_away_is_checked_in_its_span_and_cosigned(ledger, open_witness):
    witness = open_witness()
    seed(ledger)
    ledger.memberships[H2] = [{"municipality_id": "parlier", "member_from": None, "member_until": None}]
    assert (await witness.round()).entries_read == 6  # a house that never moved: read whole, as before
    ledger.memberships[H1] = BEFORE_MOVE
    ledger.append(invoice(ledger, H1, 300), at=AFTER)  # the new town's: not served to this witness
    ledger.append([H1], at=LATE)  # late data of before the move: its own
    size = ledger.append(invoice(ledger, H1, 500), [H2], at=AFTER)
    ledger.requests.clear()
    outcome = await witness.round()
    assert (outcome.status, outcome.size) == ("cosigned", size), outcome
    assert outcome.entries_read == 1 + 2 + 1  # h1: the late one; the municipality: both invoices; h2: one
    proofs = [r for r in ledger.requests if r.endswith("/proofs")]
    assert proofs == [f"GET /channels/{H1}/proofs"]  # h2 never moved: recomputed from its entries
    # Each of h1's three new heads is proved by consistency (none collapsed); h2's one and the municipality's.
    assert sum(r == f"GET /log/channels/{ledger.channels[H1].blinded_id}/consistency" for r in ledger.requests) == 3
    members = witness.store.load_state().member_channels()
    assert (members[H1].size, members[H1].root, members[H1].frontier) == (6, ledger.channels[H1].root(), None)
    assert members[H2].frontier.root() == ledger.channels[H2].root()
    # The next rounds: the rolling audit and the postings of h1's receivable take the move in their stride.
    size = ledger.append([H2], [H1], at=AFTER)
    assert (await witness.round()).size == size
    assert witness.store.refusals() == []


async def test_a_house_that_moved_in_is_read_from_the_move_on(ledger, open_witness):
    witness = open_witness()
    seed(ledger)
    ledger.memberships[H1] = [{"municipality_id": "parlier", "member_from": MOVED, "member_until": None}]
    ledger.members.discard(H1)  # not this town's before the move
    await witness.round()
    ledger.members.add(H1)
    size = ledger.append(invoice(ledger, H1, 300), at=AFTER)
    outcome = await witness.round()
    assert (outcome.status, outcome.size) == ("cosigned", size), outcome
    assert set(witness.store.stored_leaves(H1, 1, 100)) == {4}  # 1..3 are before the move


async def test_a_tampered_entry_inside_the_span_is_refused(ledger, open_witness):
    witness = open_witness()
    seed(ledger)
    await witness.round()
    ledger.memberships[H1] = BEFORE_MOVE
    ledger.append([H1], at=AFTER)
    ledger.append([H1], at=LATE)

    def edit(name, rows):  # the entry's bytes changed where the ledger keeps them, its hashes not
        return [{**r, "entry": r["entry"].replace('"note"', '"NOTE"')} if r["seq"] == 5 else r for r in rows]

    ledger.serve_entries = edit
    outcome = await witness.round()
    assert (outcome.status, outcome.reason) == ("refused", "entries_mismatch"), outcome
    assert f"channel {H1} seq 5" in outcome.detail and "is not leaf 5 of head" in outcome.detail


async def test_a_move_read_by_the_ledger_during_a_round_fails_the_round_and_refuses_nothing(ledger, open_witness):
    witness = open_witness()
    seed(ledger)
    await witness.round()
    ledger.append([H1], at=AFTER)

    def move_now(name, rows):  # the ledger reads the move between the witness's /channels and /entries
        ledger.memberships[H1] = BEFORE_MOVE
        return [r for r in rows if ledger.visible(name, json.loads(r["entry"])["occurred_at"])]

    ledger.serve_entries = move_now
    with pytest.raises(LedgerError, match="memberships changed during the round"):
        await witness.round()
    assert witness.store.refusals() == []
    ledger.serve_entries = None
    assert (await witness.round()).status == "cosigned"
