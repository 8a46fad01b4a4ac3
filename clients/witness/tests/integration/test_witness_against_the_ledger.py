"""Witnesses against the real ledger (its API on the real database): they cosign a growing log, the ledger
keeps their cosignatures, and each kind of tampering done directly in PostgreSQL is refused on the next checkpoint."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import httpx
import pytest
from argon2 import PasswordHasher
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from energychain_ledger.adapters.migrations import upgrade_to_head
from energychain_ledger.adapters.wire import parse_append
from energychain_ledger.api import build_app
from energychain_ledger.bootstrap import open_ledger
from energychain_ledger.settings import LedgerSettings
from energychain_shared import events, keys as key_files, topics
from energychain_shared.channels import resident_channel
from energychain_shared.events import Transfer, encode
from energychain_shared.kafka import ensure_topics, make_producer
from energychain_shared.ledger_client import signed_append
from energychain_shared.pg import create_database, drop_database
from energychain_shared.registry import Contract, Move, Municipality, Resident
from energychain_shared.tlog import merkle, note as notes
from energychain_shared.tlog.bundles import verify_bundle
from energychain_witness.client import LedgerClient
from energychain_witness.rounds import Witness
from energychain_witness.store import Store

pytestmark = pytest.mark.integration
T0 = datetime(2024, 5, 1, tzinfo=timezone.utc)
CHANNEL = "resident:house-01"  # a Parlier house of data/registry.json: witness-parlier is a member
ACCOUNT = "resident:house-01:receivable"


@contextlib.asynccontextmanager
async def _running(infrastructure, tmp_path, users: dict[str, tuple[str, str, str | None]], *,
                   follow_registry: bool = False, **settings_update):
    """A ledger on a scratch database, its API in process, and one witness per entry of ``users``
    (witness name -> (login, role, municipality)), each with its own store."""
    keys_dir = tmp_path / "keys"
    for name in (key_files.TOKEN_KEY, *key_files.SERVICE_KEYS):
        key_files.ensure_key_pair(keys_dir, name)
    database = f"{infrastructure.pg_database}_witness_{uuid.uuid4().hex[:8]}"
    admin = infrastructure.asyncpg_dsn
    await create_database(admin, database)
    settings = LedgerSettings(**{**infrastructure.model_dump(), "keys_dir": keys_dir, "pg_database": database,
                                 **settings_update})
    await asyncio.to_thread(upgrade_to_head, settings)
    if follow_registry:
        await ensure_topics(settings, [topics.PROGRAM_REGISTRY, topics.LEDGER_CHECKPOINTS,
                                       topics.LEDGER_DEAD_LETTERS])
    ledger = await open_ledger(settings, writer=True, follow_registry=follow_registry)
    hasher = PasswordHasher(time_cost=1, memory_cost=8192)
    for login, role, town in users.values():
        await ledger.store.upsert_user(username=login, password_hash=hasher.hash("pw"), role=role,
                                       municipality_id=town, house_id=None)
    app = build_app(settings)
    witnesses = {}
    async with app.router.lifespan_context(app):
        for name, (login, _, _) in users.items():
            key = Ed25519PrivateKey.generate()
            await ledger.store.register_witness(
                name=name, vkey=notes.verifier_key(name, key.public_key(), key_type=notes.COSIGNATURE_V1), url=None)
            client = LedgerClient("http://ledger", username=login, password="pw", timeout_s=30,
                                  transport=httpx.ASGITransport(app=app))
            witnesses[name] = Witness(name=name, private_key=key, ledger_vkey=ledger.log_vkey(),
                                      store=Store.open(tmp_path / name / "state.sqlite"), client=client,
                                      audit_entries=500, audit_accounts=20)
        ledger.app = app  # the tests below call the API as a member too
        try:
            yield ledger, witnesses
        finally:
            for witness in witnesses.values():
                witness.store.close()
            await ledger.close()
    await drop_database(admin, database)


@pytest.fixture
async def system(infrastructure, tmp_path):
    """A ledger on a scratch database, its API in process, a member witness and the auditor, each with its own store."""
    async with _running(infrastructure, tmp_path, {"witness-parlier": ("witness-parlier", "municipality", "parlier"),
                                                   "witness-auditor": ("auditor", "auditor", None)}) as running:
        yield running


async def _append(ledger, prefix: str, count: int, *, transfers=()) -> None:
    key = key_files.load_private_key(ledger.settings.resolved_keys_dir, "billing")
    await ledger.store.append_batch([
        parse_append(encode(signed_append(
            key=key, producer="billing", entry_id=f"{prefix}-{i}", channels=[CHANNEL, "gsa"], kind="Test",
            occurred_at=T0 + timedelta(minutes=i), body={"i": i}, transfers=transfers,
        )), keys=ledger.keys)
        for i in range(count)
    ])


async def _rounds(witnesses) -> dict[str, object]:
    return {name: await witness.round() for name, witness in witnesses.items()}


async def test_witnesses_cosign_a_growing_log_and_the_ledger_serves_their_cosignatures(system):
    ledger, witnesses = system
    transfer = Transfer(debit_account=ACCOUNT, credit_account="gsa:revenue", amount_cents=700)
    for batch in range(3):
        await _append(ledger, f"grow{batch}", 20, transfers=[transfer])
        outcomes = await _rounds(witnesses)
        assert all(o.status == "cosigned" and o.submitted for o in outcomes.values()), outcomes
    found = await ledger.store.checkpoint(cosigned=True)
    text = notes.with_signatures(found["note"], list(found["cosignatures"].values()))
    parsed = notes.parse_note(text)
    assert sorted(found["cosignatures"]) == ["witness-auditor", "witness-parlier"]
    for witness in await ledger.store.witnesses():
        name, _, key = notes.parse_verifier_key(witness["vkey"])
        assert notes.verify_cosignature(parsed, name=name, public_key=key) is not None
    # Nothing new: a round changes nothing and cosigns nothing twice.
    assert {o.status for o in (await _rounds(witnesses)).values()} == {"unchanged"}


async def test_a_member_proves_its_entries_in_the_cosigned_checkpoint_and_a_wrong_proof_fails(system):
    ledger, witnesses = system
    for batch in range(3):
        await _append(ledger, f"prove{batch}", 10)
        await _rounds(witnesses)
    await _append(ledger, "after", 2)  # not yet cosigned: pending
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=ledger.app), base_url="http://ledger") as http:
        token = (await http.post("/auth/token", data={"username": "witness-parlier", "password": "pw"})).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        (mine,) = [c for c in (await http.get("/channels", headers=headers)).json() if c["channel"] == CHANNEL]
        bundle = (await http.get(f"/channels/{CHANNEL}/proofs", params={"seqs": "1,15,30,31,32"},
                                 headers=headers)).json()
        keys = (await http.get("/log/key", headers=headers)).json()
    witness_vkeys = {w["name"]: w["vkey"] for w in keys["witnesses"]}
    report = verify_bundle(bundle, channel=CHANNEL, salt=bytes.fromhex(mine["salt"]), ledger_vkey=keys["vkey"],
                           witness_vkeys=witness_vkeys)
    assert report.ok and report.verified == [1, 15, 30] and report.pending == [31, 32]
    assert sorted(report.cosigned_by) == ["witness-auditor", "witness-parlier"]
    # The verifier pins the ledger key it was given out of band: the served one must equal it.
    assert keys["vkey"] == ledger.log_vkey()
    wrong = {**bundle, "entries": [{**bundle["entries"][0], "entry": bundle["entries"][0]["entry"].replace("0", "1", 1)}]}
    assert verify_bundle(wrong, channel=CHANNEL, salt=bytes.fromhex(mine["salt"]), ledger_vkey=keys["vkey"],
                         witness_vkeys=witness_vkeys).failures == {1: "entry 1 is not included in the channel head "
                                                                      f"of size {bundle['head']['size']}"}
    other = verify_bundle(bundle, channel="resident:house-02", salt=bytes.fromhex(mine["salt"]),
                          ledger_vkey=keys["vkey"], witness_vkeys=witness_vkeys)
    assert "head" in other.failures


async def test_a_witness_killed_between_storing_and_submitting_resubmits_the_same_cosignature(system, tmp_path):
    ledger, witnesses = system
    await _append(ledger, "kill", 5)
    member = witnesses["witness-parlier"]
    submitted = member._submit

    async def die(cosigned):  # the process is killed after the store's transaction, before the POST
        raise SystemExit("killed")

    member._submit = die
    with pytest.raises(SystemExit):
        await member.round()
    assert await ledger.store.checkpoint(cosigned=True) is None
    member._submit = submitted
    member.store.close()
    member.store = Store.open(tmp_path / "witness-parlier" / "state.sqlite")  # the restarted process
    again = Witness(name=member.name, private_key=member.private_key, ledger_vkey=member.ledger_vkey,
                    store=member.store, client=member.client, audit_entries=500, audit_accounts=20)
    await again.round()
    cosigned = await ledger.store.checkpoint(cosigned=True)
    assert cosigned is not None and list(cosigned["cosignatures"]) == ["witness-parlier"]


async def _sql(ledger, *statements: str, args=()) -> None:
    async with ledger.store.pool.acquire() as connection:
        for sql in statements:
            await connection.execute(sql, *args)


async def _tree(ledger, channel: str = CHANNEL) -> int:
    return (await ledger.store.channel(channel)).tree_id


async def _payload_edit(ledger, *, channel: str = CHANNEL, seq: int = 4, text: str = '"i":3', edited: str = '"i":333'):
    await _sql(ledger, "UPDATE ledger.entries SET entry = convert_to(replace(convert_from(entry, 'UTF8'), $3, $4),"
               " 'UTF8') WHERE tree_id = $1 AND seq = $2", args=(await _tree(ledger, channel), seq, text, edited))


async def _posting_edit(ledger):
    await _sql(ledger, "UPDATE ledger.postings SET amount_cents = amount_cents * 10 WHERE entry_id = 'base-2'")


async def _tail_cut(ledger):
    tree = await _tree(ledger)
    await _sql(ledger, "DELETE FROM ledger.entries WHERE tree_id = $1 AND seq = 40", args=(tree,))
    shorter = await ledger.store.tree_root(tree, 39)
    await _sql(ledger, "UPDATE ledger.heads SET size = 39, root = $2 WHERE tree_id = $1"
               " AND log_index = (SELECT max(log_index) FROM ledger.heads WHERE tree_id = $1)", args=(tree, shorter))


async def _middle_deleted_and_rehashed(ledger):
    tree = await _tree(ledger)
    await _sql(ledger, "DELETE FROM ledger.entries WHERE tree_id = $1 AND seq = 7",
               "UPDATE ledger.entries SET seq = seq + 999 WHERE tree_id = $1 AND seq > 7",
               "UPDATE ledger.entries SET seq = seq - 1000 WHERE tree_id = $1 AND seq > 1000",
               "DELETE FROM ledger.tree_nodes WHERE tree_id = $1", args=(tree,))
    leaves = [s.leaf async for s in ledger.store.tree_entries(tree, channel=CHANNEL)]
    frontier, rows = merkle.Frontier(), []
    for leaf in leaves:
        rows += [(tree, level, index, digest) for level, index, digest in frontier.append(leaf) if level % 4 == 0]
    async with ledger.store.pool.acquire() as connection:
        await connection.copy_records_to_table("tree_nodes", schema_name="ledger", records=rows)
        for head in await ledger.store.heads(start=0, end=2**40, tree_id=tree):
            size = min(head.size, len(leaves))
            await connection.execute("UPDATE ledger.heads SET size = $2, root = $3 WHERE log_index = $1",
                                     head.log_index, size, merkle.root_of(leaves[:size]))


async def _reordered(ledger):
    await _sql(ledger, "UPDATE ledger.entries SET seq = 1000 WHERE tree_id = $1 AND seq = 2",
               "UPDATE ledger.entries SET seq = 2 WHERE tree_id = $1 AND seq = 3",
               "UPDATE ledger.entries SET seq = 3 WHERE tree_id = $1 AND seq = 1000", args=(await _tree(ledger),))


@pytest.mark.parametrize("tamper, auditor_sees_it", [
    (_payload_edit, False), (_posting_edit, False), (_tail_cut, True), (_middle_deleted_and_rehashed, True),
    (_reordered, False),
], ids=["payload-edit", "posting-edit-both-sides", "tail-cut-heads-stepped-back", "middle-deleted-rehashed",
        "reordered"])
async def test_tampering_in_postgres_is_refused_by_the_member_witness_on_the_next_checkpoint(
    system, tamper, auditor_sees_it,
):
    ledger, witnesses = system
    transfer = Transfer(debit_account=ACCOUNT, credit_account="gsa:revenue", amount_cents=1234)
    await _append(ledger, "base", 20, transfers=[transfer])
    await _append(ledger, "more", 20)
    assert {o.status for o in (await _rounds(witnesses)).values()} == {"cosigned"}
    cosigned = await ledger.store.checkpoint(cosigned=True)
    await tamper(ledger)
    await _append(ledger, "next", 1)  # the next checkpoint (the running writer's own view of the log)
    outcomes = await _rounds(witnesses)
    member = outcomes["witness-parlier"]
    assert member.status == "refused", member
    assert member.reason in ("unprovable", "channel_inconsistent", "audit_mismatch", "posting_mismatch",
                             "entries_mismatch", "inconsistent_log", "heads_mismatch"), member
    assert (outcomes["witness-auditor"].status == "refused") is auditor_sees_it, outcomes["witness-auditor"]
    # The member witness cosigned nothing after the tampering: its newest is still the one before.
    assert witnesses["witness-parlier"].store.last_cosigned().size == cosigned["size"]
    newest = await ledger.store.checkpoint()
    assert newest["size"] > cosigned["size"] and "witness-parlier" not in newest["cosignatures"]
    refusals = witnesses["witness-parlier"].store.refusals(limit=10)
    assert refusals and refusals[0].reason == member.reason


# ---------------------------------------------------------------- a house that moves (membership by date)

MOVE_DATE = date(2024, 3, 15)
MOVED_AT = datetime(2024, 3, 15, 7, tzinfo=timezone.utc)  # local midnight in America/Los_Angeles (PDT)
# name -> event time; seqs in this order. a, b before the move and c from it on, appended before the ledger
# reads the move; then d (the new town's), e (late data of the old town's time), f (the new town's).
UTC = timezone.utc
MOVING = {"a": datetime(2024, 3, 1, 12, tzinfo=UTC), "b": datetime(2024, 3, 15, 6, 59, 59, tzinfo=UTC), "c": MOVED_AT,
          "d": datetime(2024, 4, 1, tzinfo=UTC), "e": datetime(2024, 3, 10, tzinfo=UTC),
          "f": datetime(2024, 5, 1, tzinfo=UTC)}
SEQ = {name: seq for seq, name in enumerate(MOVING, start=1)}


@pytest.fixture
async def moving(infrastructure, tmp_path):
    """A ledger following a registry topic of its own (no seed file) where a house is enrolled in the old town;
    the witnesses of the old town, of the new one, and the auditor."""
    unique = uuid.uuid4().hex[:10]
    old, new, house = f"old-{unique}", f"new-{unique}", f"house-{unique}"
    users = {"witness-old": (f"witness-{old}", "municipality", old),
             "witness-new": (f"witness-{new}", "municipality", new),
             "witness-auditor": (f"auditor-{unique}", "auditor", None)}
    async with _running(infrastructure, tmp_path, users, follow_registry=True,
                        topic_prefix=f"{infrastructure.topic_prefix}witness-move-{unique}.",
                        registry_path=tmp_path / "none.json", registry_refresh_s=60.0) as (ledger, witnesses):
        yield ledger, witnesses, old, new, house


async def _publish(ledger, *items: events.Event) -> None:
    """Registry events on the ledger's registry topic, then read by its feed (as billing publishes them)."""
    producer = make_producer(ledger.settings, client_id="witness-test-move")
    await producer.start()
    try:
        for item in items:
            await (await producer.send(ledger.settings.topic(topics.PROGRAM_REGISTRY), events.encode(item),
                                       key=item.partition_key.encode()))
    finally:
        await producer.stop()
    await ledger.feed.sync()


def _enrolment(old: str, new: str, house: str) -> list[events.Event]:
    towns = [Municipality(municipality_id=old, name="Old Town"), Municipality(municipality_id=new, name="New Town")]
    resident = Resident(house_id=house, username=f"user-{house}", name="Moving Resident", address="1 Main St",
                        municipality_id=old, contract=Contract(rate_usd_per_kwh=Decimal("0.2"), battery_wh=10_000,
                                                               reserve_wh=1_000, start_date=date(2022, 1, 1)))
    return [*(events.MunicipalityOnboarded(event_id=events.MunicipalityOnboarded.id_for(m), producer="billing",
                                           occurred_at=datetime(2022, 1, 1, tzinfo=timezone.utc), municipality=m)
              for m in towns),
            events.ResidentEnrolled(event_id=events.ResidentEnrolled.id_for(resident), producer="billing",
                                    occurred_at=datetime(2022, 1, 1, 8, tzinfo=timezone.utc), resident=resident)]


def _move(new: str, house: str) -> events.HouseMoved:
    move = Move(effective_date=MOVE_DATE, municipality_id=new)
    return events.HouseMoved(event_id=events.HouseMoved.id_for(house, move), occurred_at=MOVED_AT,
                             producer="billing", house_id=house, move=move)


async def _append_to_house(ledger, house: str, *names_at: tuple[str, datetime], channels=None) -> None:
    """One batch: an entry per name on the house's channel, each debiting the house's receivable."""
    key = key_files.load_private_key(ledger.settings.resolved_keys_dir, "billing")
    await ledger.store.append_batch([
        parse_append(encode(signed_append(
            key=key, producer="billing", entry_id=f"{house}-{name}", channels=channels or [resident_channel(house)],
            kind="MoveTest", occurred_at=at, body={"entry": name},
            transfers=[Transfer(debit_account=f"resident:{house}:receivable", credit_account="gsa:revenue",
                                amount_cents=100 + len(name))],
        )), keys=ledger.keys)
        for name, at in names_at
    ])


async def _house_moves_and_every_witness_cosigns(ledger, witnesses, old, new, house) -> None:
    """Appends before and after a move (read live by the ledger); after each batch every witness cosigns."""
    await _publish(ledger, *_enrolment(old, new, house))
    await _append_to_house(ledger, house, *((n, MOVING[n]) for n in "abc"))
    outcomes = await _rounds(witnesses)
    assert {o.status for o in outcomes.values()} == {"cosigned"}, outcomes
    assert outcomes["witness-old"].entries_read == 3  # the whole channel, as before membership by date

    await _publish(ledger, _move(new, house))
    assert [(m.municipality_id, m.start, m.end) for m in await ledger.store.channel_spans(resident_channel(house))] \
        == [(old, None, MOVED_AT), (new, MOVED_AT, None)]
    await _append_to_house(ledger, house, ("d", MOVING["d"]))
    await _append_to_house(ledger, house, ("e", MOVING["e"]))  # two heads of the channel in one round
    outcomes = await _rounds(witnesses)
    assert {o.status for o in outcomes.values()} == {"cosigned"}, outcomes
    assert outcomes["witness-old"].entries_read == 1  # e: c and d are the new town's now
    assert outcomes["witness-new"].entries_read == 2  # c and d: a, b and e are the old town's

    await _append_to_house(ledger, house, ("f", MOVING["f"]))
    outcomes = await _rounds(witnesses)
    assert {o.status for o in outcomes.values()} == {"cosigned"}, outcomes
    assert (outcomes["witness-old"].entries_read, outcomes["witness-new"].entries_read) == (0, 1)


async def test_both_towns_witnesses_keep_cosigning_when_a_house_moves(moving):
    ledger, witnesses, old, new, house = moving
    channel = resident_channel(house)
    await _house_moves_and_every_witness_cosigns(ledger, witnesses, old, new, house)
    assert {name: w.store.refusals() for name, w in witnesses.items()} == {name: [] for name in witnesses}
    newest = await ledger.store.checkpoint()
    assert sorted(newest["cosignatures"]) == ["witness-auditor", "witness-new", "witness-old"]
    for name in ("witness-old", "witness-new"):
        (state,) = [c for c in witnesses[name].store.load_state().channels.values() if c.name == channel]
        assert (state.size, state.frontier) == (len(SEQ), None), name  # at the head, checked in part
    # What each kept: the entries it read (the old town read c before the ledger knew of the move).
    kept = {name: set(witnesses[name].store.stored_leaves(channel, 1, 100)) for name in ("witness-old", "witness-new")}
    assert kept == {"witness-old": {SEQ[n] for n in "abce"}, "witness-new": {SEQ[n] for n in "cdf"}}
    # A checkpoint that does not touch the house: the rolling audit and the postings of both towns again.
    await _append_to_house(ledger, house, ("z", MOVED_AT), channels=["gsa"])
    assert {o.status for o in (await _rounds(witnesses)).values()} == {"cosigned"}
    assert {name: w.store.refusals() for name, w in witnesses.items()} == {name: [] for name in witnesses}


@pytest.mark.parametrize("town, tampered, reason", [
    ("old", "b", "audit_mismatch"),  # read and stored by the old town, inside its span
    ("old", "g", "entries_mismatch"),  # a new entry of the old town's time, edited before the round
    ("new", "d", "audit_mismatch"),
    ("new", "g", "entries_mismatch"),
])
async def test_a_tampered_entry_inside_a_towns_span_is_refused_by_its_witness_alone(moving, town, tampered, reason):
    ledger, witnesses, old, new, house = moving
    await _house_moves_and_every_witness_cosigns(ledger, witnesses, old, new, house)
    cosigned = await ledger.store.checkpoint(cosigned=True)
    if tampered == "g":
        at = datetime(2024, 3, 12, tzinfo=UTC) if town == "old" else datetime(2024, 6, 1, tzinfo=UTC)
        await _append_to_house(ledger, house, ("g", at))
        seq = len(SEQ) + 1
    else:
        await _append_to_house(ledger, house, ("z", MOVED_AT), channels=["gsa"])  # the next checkpoint
        seq = SEQ[tampered]
    await _payload_edit(ledger, channel=resident_channel(house), seq=seq, text=f'"entry":"{tampered}"',
                        edited=f'"entry":"{tampered}{tampered}"')
    outcomes = await _rounds(witnesses)
    mine, other = f"witness-{town}", "witness-new" if town == "old" else "witness-old"
    assert (outcomes[mine].status, outcomes[mine].reason) == ("refused", reason), outcomes[mine]
    assert f"seq {seq}" in outcomes[mine].detail
    # The other town cannot read that entry: it takes it on the proofs (hashes unchanged), as the auditor does.
    assert outcomes[other].status == "cosigned" and outcomes["witness-auditor"].status == "cosigned", outcomes
    assert witnesses[mine].store.last_cosigned().size == cosigned["size"]
    assert witnesses[mine].store.refusals()[0].reason == reason
