"""A house that moves: its channel's membership changes from the move's date, live from the registry topic.

The old municipality keeps reading what was recorded before the move and nothing after; the new one reads
from the move on; both have the channel listed and both verify it; the GSA and the resident read it all.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import httpx
import pytest
from argon2 import PasswordHasher

from energychain_ledger.adapters.wire import parse_append
from energychain_ledger.api import build_app
from energychain_ledger.bootstrap import open_ledger, registry_memberships
from energychain_ledger.domain.access import member_key
from energychain_ledger.domain.membership import Span
from energychain_shared import events, keys as key_files, topics
from energychain_shared.channels import resident_channel
from energychain_shared.events import Transfer
from energychain_shared.kafka import ensure_topics, make_producer
from energychain_shared.ledger_client import signed_append
from energychain_shared.registry import Contract, Move, Municipality, Resident

pytestmark = pytest.mark.integration
UTC = timezone.utc
MOVE_DATE = date(2024, 3, 15)
MOVED_AT = datetime(2024, 3, 15, 7, tzinfo=UTC)  # local midnight in America/Los_Angeles (PDT)
# entry -> (event time, cents debited to the house's receivable): two before the move, three from it on.
ENTRIES = {
    "a": (datetime(2024, 3, 1, 12, tzinfo=UTC), 100),
    "b": (datetime(2024, 3, 15, 6, 59, 59, tzinfo=UTC), 200),  # 23:59:59 local, the day before the move
    "c": (MOVED_AT, 400),
    "d": (datetime(2024, 4, 1, tzinfo=UTC), 800),
}
LATE = ("e", datetime(2024, 5, 1, tzinfo=UTC), 1600)  # appended after the ledger read the move
BEFORE, AFTER = {"a", "b"}, {"c", "d", "e"}
PASSWORD = "membership by date"


async def _send(settings, *items: events.Event) -> None:
    producer = make_producer(settings, client_id="ledger-test-membership")
    await producer.start()
    try:
        for item in items:
            await (await producer.send(settings.topic(topics.PROGRAM_REGISTRY), events.encode(item),
                                       key=item.partition_key.encode()))
    finally:
        await producer.stop()


def _registry_events(old: str, new: str, house: str) -> tuple[list[events.Event], events.HouseMoved]:
    onboarded = [events.MunicipalityOnboarded(event_id=events.MunicipalityOnboarded.id_for(m),
                                              occurred_at=datetime(2022, 1, 1, tzinfo=UTC), producer="billing",
                                              municipality=m)
                 for m in (Municipality(municipality_id=old, name="Old Town"),
                           Municipality(municipality_id=new, name="New Town"))]
    resident = Resident(house_id=house, username=f"user-{house}", name="Moving Resident", address="1 Main St",
                        municipality_id=old, contract=Contract(rate_usd_per_kwh=Decimal("0.2"), battery_wh=10_000,
                                                               reserve_wh=1_000, start_date=date(2022, 1, 1)))
    enrolled = events.ResidentEnrolled(event_id=events.ResidentEnrolled.id_for(resident),
                                       occurred_at=datetime(2022, 1, 1, 8, tzinfo=UTC), producer="billing",
                                       resident=resident)
    move = Move(effective_date=MOVE_DATE, municipality_id=new)
    moved = events.HouseMoved(event_id=events.HouseMoved.id_for(house, move), occurred_at=MOVED_AT,
                              producer="billing", house_id=house, move=move)
    return [*onboarded, enrolled], moved


def _appends(ledger, settings, house: str, unique: str, items) -> list:
    key = key_files.load_private_key(settings.resolved_keys_dir, "billing")
    return [parse_append(events.encode(signed_append(
        key=key, producer="billing", entry_id=f"{name}-{unique}", channels=[resident_channel(house)],
        kind="MoveTest", occurred_at=at, body={"entry": name},
        transfers=[Transfer(debit_account=f"resident:{house}:receivable", credit_account="gsa:revenue",
                            amount_cents=cents)])), keys=ledger.keys)
        for name, at, cents in items]


@pytest.fixture
def moving(ledger_settings, tmp_path, unique):
    """Settings on a registry topic of this test alone (no seed file), and the names it uses."""
    settings = ledger_settings.model_copy(update={
        "topic_prefix": f"{ledger_settings.topic_prefix}move-{unique}.", "registry_path": tmp_path / "none.json",
        "registry_refresh_s": 60.0,
    })
    return settings, f"old-{unique}", f"new-{unique}", f"house-{unique}"


async def _token(http, username: str) -> dict[str, str]:
    response = await http.post("/auth/token", data={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_a_move_splits_what_each_municipality_reads_of_the_channel_from_its_date(moving, unique):
    settings, old, new, house = moving
    channel = resident_channel(house)
    await ensure_topics(settings, [topics.PROGRAM_REGISTRY, topics.LEDGER_CHECKPOINTS, topics.LEDGER_DEAD_LETTERS])
    enrolment, moved = _registry_events(old, new, house)
    ledger = await open_ledger(settings, writer=True, follow_registry=True)
    try:
        await _send(settings, *enrolment)
        await ledger.feed.sync()
        assert await ledger.store.channel_spans(channel) == (Span(old),)
        await ledger.store.append_batch(_appends(ledger, settings, house, unique,
                                                 [(n, at, cents) for n, (at, cents) in ENTRIES.items()]))

        # The move, read live: the channel's membership changes from the move's local midnight.
        await _send(settings, moved)
        assert await ledger.feed.sync() == 1
        assert await ledger.store.channel_spans(channel) == (Span(old, None, MOVED_AT), Span(new, MOVED_AT, None))
        for town in (old, new):
            assert await ledger.store.is_member(channel, member_key(role="municipality", house_id=None,
                                                                    municipality_id=town))
        # Idempotent: the whole folded registry again changes nothing.
        assert await ledger.store.sync_memberships(registry_memberships(ledger.registry)) == []
        await ledger.store.append_batch(_appends(ledger, settings, house, unique, [LATE]))

        hasher = PasswordHasher(time_cost=1, memory_cost=8192)
        users = {"old": ("municipality", old, None), "new": ("municipality", new, None),
                 "resident": ("resident", old, house), "gsa": ("gsa", None, None)}
        for who, (role, town, home) in users.items():
            await ledger.store.upsert_user(username=f"{who}-{unique}", password_hash=hasher.hash(PASSWORD),
                                           role=role, municipality_id=town, house_id=home)
    finally:
        await ledger.close()

    app = build_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ledger") as http:
            sees = {"old": BEFORE, "new": AFTER, "resident": BEFORE | AFTER, "gsa": BEFORE | AFTER}
            seq = {name: index for index, name in enumerate([*ENTRIES, LATE[0]], start=1)}
            for who, visible in sees.items():
                headers = await _token(http, f"{who}-{unique}")
                # Listed for both municipalities, each with its own membership span.
                listed = {c["channel"]: c for c in (await http.get(
                    "/channels", params={"after": channel[:-1], "limit": 1000}, headers=headers)).json()}
                assert channel in listed, who
                spans = [(m["municipality_id"], m["member_from"], m["member_until"])
                         for m in listed[channel]["memberships"]]
                moved_at = MOVED_AT.isoformat().replace("+00:00", "Z")
                expected = {"old": [(old, None, moved_at)], "new": [(new, moved_at, None)]}.get(
                    who, [(old, None, moved_at), (new, moved_at, None)])
                assert [(t, f and f.replace("+00:00", "Z"), u and u.replace("+00:00", "Z")) for t, f, u in spans] \
                    == expected, (who, spans)
                assert listed[channel]["size"] == 5

                page = await http.get(f"/channels/{channel}/entries", params={"limit": 1000}, headers=headers)
                assert page.status_code == 200, (who, page.text)
                names = {e["payload"]["entry"] for e in page.json()["entries"]}
                assert names == visible, who
                assert {e["seq"] for e in page.json()["entries"]} == {seq[n] for n in visible}
                # Paging with a small limit gives the same entries (the filter is in the query).
                paged, cursor = set(), 0
                while cursor is not None:
                    part = (await http.get(f"/channels/{channel}/entries", params={"limit": 1, "cursor": cursor},
                                           headers=headers)).json()
                    paged |= {e["payload"]["entry"] for e in part["entries"]}
                    cursor = part["next_cursor"]
                assert paged == visible, who

                # Proved in the newest checkpoint (the newest cosigned one may predate these entries).
                newest = (await http.get("/log/checkpoint", headers=headers)).json()["size"]
                for name in seq:
                    one = await http.get(f"/entries/{name}-{unique}", headers=headers)
                    assert one.status_code == (200 if name in visible else 404), (who, name)
                    proof = await http.get(f"/channels/{channel}/proofs",
                                           params={"seqs": str(seq[name]), "checkpoint": newest}, headers=headers)
                    assert proof.status_code == (200 if name in visible else 403), (who, name, proof.text)
                    if name in visible:
                        (proved,) = proof.json()["entries"]
                        assert proved["seq"] == seq[name] and f"{name}-{unique}" in proved["entry"]
                    else:
                        assert "entries" not in proof.json() and f'\\"{name}-{unique}\\"' not in proof.text
                mixed = await http.get(f"/channels/{channel}/proofs", params={"seqs": "1,3", "checkpoint": newest},
                                       headers=headers)
                assert mixed.status_code == (200 if who in ("resident", "gsa") else 403), who
                # Hashes only: consistency proofs of the whole channel for every member.
                consistency = await http.get(f"/channels/{channel}/proof/consistency", params={"from": 2, "to": 5},
                                             headers=headers)
                assert consistency.status_code == 200, (who, consistency.text)

                verify = (await http.get(f"/channels/{channel}/verify", headers=headers)).json()
                assert verify["ok"] is True and verify["entries_checked"] == 5, (who, verify)

                account = f"resident:{house}:receivable"
                balances = {b["account"]: b["balance_cents"]
                            for b in (await http.get("/accounts/balances", headers=headers)).json()}
                cents = {n: c for n, (_, c) in ENTRIES.items()} | {LATE[0]: LATE[2]}
                assert balances.get(account) == sum(cents[n] for n in visible), (who, balances.get(account))
                postings = await http.get(f"/accounts/{account}/postings", headers=headers)
                assert postings.status_code == 200, (who, postings.text)
                assert {p["entry_id"] for p in postings.json()} == {f"{n}-{unique}" for n in visible}, who


async def test_a_ledger_started_after_the_move_takes_it_from_the_folded_registry(moving):
    settings, old, new, house = moving
    channel = resident_channel(house)
    await ensure_topics(settings, [topics.PROGRAM_REGISTRY])
    enrolment, moved = _registry_events(old, new, house)
    await _send(settings, *enrolment, moved)
    ledger = await open_ledger(settings, follow_registry=True)
    try:
        assert await ledger.store.channel_spans(channel) == (Span(old, None, MOVED_AT), Span(new, MOVED_AT, None))
        listed = {c["channel"] for c in await ledger.store.channels_for(f"municipality:{new}")}
        assert channel in listed
    finally:
        await ledger.close()
    # A second start changes nothing; a registry that has not read the move yet does not undo it.
    again = await open_ledger(settings, follow_registry=True)
    try:
        assert await again.store.sync_memberships(registry_memberships(again.registry)) == []
        assert await again.store.sync_memberships({channel: (Span(old),)}) == []
        assert await again.store.channel_spans(channel) == (Span(old, None, MOVED_AT), Span(new, MOVED_AT, None))
    finally:
        await again.close()
