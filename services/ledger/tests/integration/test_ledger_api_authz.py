"""Every read endpoint walked as every role (the auditor too): exactly who sees what, and who may prove what."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest
from argon2 import PasswordHasher
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from energychain_ledger.adapters.wire import parse_append
from energychain_ledger.api import build_app
from energychain_ledger.bootstrap import open_ledger
from energychain_shared import keys as key_files
from energychain_shared.auth import Principal, Role, issue_token
from energychain_shared.events import Transfer, encode
from energychain_shared.ledger_client import signed_append

pytestmark = pytest.mark.integration
T0 = datetime(2024, 7, 1, tzinfo=timezone.utc)

USERS = {  # username -> (role, municipality for municipality users)
    "luis": ("resident", None), "chauncy": ("resident", None), "angel": ("resident", None),
    "rosa": ("resident", None), "stephen": ("municipality", "parlier"),
    "reedley": ("municipality", "reedley"), "gsa-operator": ("gsa", None), "auditor": ("auditor", None),
}
HOUSE = {"luis": "house-01", "chauncy": "house-02", "angel": "house-03", "rosa": "house-r01"}
CHANNELS = ["resident:house-01", "resident:house-02", "resident:house-03", "resident:house-r01",
            "municipality:parlier", "municipality:reedley", "gsa"]
# Who is a member of which channel (the Fabric design): the expectation every call is checked against.
MEMBERS = {
    "luis": {"resident:house-01"}, "chauncy": {"resident:house-02"}, "angel": {"resident:house-03"},
    "rosa": {"resident:house-r01"},
    "stephen": {"municipality:parlier", "resident:house-01", "resident:house-02", "resident:house-03"},
    "reedley": {"municipality:reedley", "resident:house-r01"},
    "gsa-operator": set(CHANNELS),
    "auditor": set(),  # reads the log of heads and proofs by blinded id, no channel
}


def _accounts_visible(user: str, account: str) -> bool:
    if user == "gsa-operator":
        return True
    owner = account.split(":")
    if user in HOUSE:
        return owner[:2] == ["resident", HOUSE[user]]
    municipality = USERS[user][1]
    own_houses = {h for u, h in HOUSE.items() if f"resident:{h}" in MEMBERS[user]}
    return owner[:2] == ["municipality", municipality] or (owner[0] == "resident" and owner[1] in own_houses)


@pytest.fixture
async def client(ledger_settings, unique):
    """The API on the real database, with the demo users (test passwords) and one entry per channel."""
    ledger = await open_ledger(ledger_settings, writer=True)
    hasher = PasswordHasher(time_cost=1, memory_cost=8192)
    try:
        for username, (role, municipality) in USERS.items():
            house = HOUSE.get(username)
            await ledger.store.upsert_user(
                username=username, password_hash=hasher.hash(f"pw-{username}"), role=role,
                municipality_id="reedley" if username == "rosa" else ("parlier" if house else municipality),
                house_id=house)
        key = key_files.load_private_key(ledger_settings.resolved_keys_dir, "billing")
        batch = []
        for channel in CHANNELS:
            transfers = []
            if channel.startswith("resident:"):
                house = channel.split(":")[1]
                transfers = [Transfer(debit_account=f"resident:{house}:receivable", credit_account="gsa:revenue",
                                      amount_cents=100)]
            batch.append(parse_append(encode(signed_append(
                key=key, producer="billing", entry_id=f"{channel}-{unique}", channels=[channel], kind="AuthzTest",
                occurred_at=T0, body={"channel": channel}, transfers=transfers)), keys=ledger.keys))
        await ledger.store.append_batch(batch)
    finally:
        await ledger.close()
    app = build_app(ledger_settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ledger") as http:
            yield http


async def _token(http, username: str) -> dict[str, str]:
    response = await http.post("/auth/token", data={"username": username, "password": f"pw-{username}"})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_token_endpoint_refuses_a_wrong_password_and_an_unknown_user(client):
    assert (await client.post("/auth/token", data={"username": "luis", "password": "nope"})).status_code == 401
    assert (await client.post("/auth/token", data={"username": "nobody", "password": "x"})).status_code == 401


@pytest.mark.parametrize("user", list(USERS))
async def test_each_role_reads_exactly_its_channels_entries_accounts_and_proofs(client, unique, user):
    headers = await _token(client, user)
    # The log of heads is everyone's: blinded ids, sizes, roots, checkpoints.
    checkpoint = (await client.get("/log/checkpoint", headers=headers)).json()
    assert checkpoint["size"] >= 1 and "\n\n\u2014 " in checkpoint["note"]
    heads = await client.get("/log/heads", params={"start": 0, "end": 10}, headers=headers)
    assert heads.status_code == 200 and "channel" not in heads.text
    assert (await client.get("/log/key", headers=headers)).status_code == 200
    if user == "auditor":
        for path in ("/channels", "/channels/gsa/entries", "/accounts/balances", "/channels/gsa/verify",
                     "/channels/gsa/proofs?seqs=1", "/channels/gsa/proof/consistency?from=0&to=1"):
            assert (await client.get(path, headers=headers)).status_code == 403, path
        return
    listed: set[str] = set()
    after = ""
    while True:  # page through: the GSA's list can be long
        page = (await client.get("/channels", params={"limit": 1000, "after": after}, headers=headers)).json()
        listed |= {c["channel"] for c in page}
        if len(page) < 1000:
            break
        after = page[-1]["channel"]
    if user == "gsa-operator":
        assert set(CHANNELS) <= listed
    else:
        assert listed == MEMBERS[user]
    for channel in CHANNELS:
        allowed = channel in MEMBERS[user]
        page = await client.get(f"/channels/{channel}/entries", params={"kind": "AuthzTest", "limit": 1000},
                                headers=headers)
        assert page.status_code == (200 if allowed else 403), (user, channel, page.text)
        if allowed:
            assert f"{channel}-{unique}" in {e["entry_id"] for e in page.json()["entries"]}
        else:
            assert "entries" not in page.json()
        entry = await client.get(f"/entries/{channel}-{unique}", headers=headers)
        assert entry.status_code == (200 if allowed else 404), (user, channel)
        verify = await client.get(f"/channels/{channel}/verify", headers=headers)
        assert verify.status_code == (200 if allowed else 403), (user, channel)
        proofs = await client.get(f"/channels/{channel}/proofs", params={"seqs": "1"}, headers=headers)
        assert proofs.status_code == (200 if allowed else 403), (user, channel, proofs.text)
        consistency = await client.get(f"/channels/{channel}/proof/consistency", params={"from": 0, "to": 1},
                                       headers=headers)
        assert consistency.status_code == (200 if allowed else 403), (user, channel, consistency.text)
        if allowed:
            assert proofs.json()["channel"] == channel and "\"salt\"" not in proofs.text  # no salt member (a base64 hash may spell "salt")

    balances = {b["account"] for b in (await client.get("/accounts/balances", headers=headers)).json()}
    assert balances, user
    assert all(_accounts_visible(user, account) for account in balances), (user, balances)
    for account in ("resident:house-01:receivable", "resident:house-r01:receivable", "gsa:revenue"):
        postings = await client.get(f"/accounts/{account}/postings", headers=headers)
        assert postings.status_code == (200 if _accounts_visible(user, account) else 403), (user, account)
    check = await client.get("/accounts/check", headers=headers)
    assert check.status_code == (200 if user == "gsa-operator" else 403)
    if user == "gsa-operator":
        assert check.json()["balanced"] is True and check.json()["sum_cents"] == 0


async def test_missing_expired_and_foreign_tokens_see_nothing(client, ledger_settings):
    token_key = key_files.load_private_key(ledger_settings.resolved_keys_dir, key_files.TOKEN_KEY)
    gsa = Principal(role=Role.GSA, subject="gsa-operator")
    expired = issue_token(token_key, gsa, ttl=timedelta(minutes=5), now=datetime.now(timezone.utc) - timedelta(hours=1))
    foreign = issue_token(Ed25519PrivateKey.generate(), gsa, ttl=timedelta(minutes=5))
    paths = ["/channels", "/channels/gsa/entries", "/entries/x", "/accounts/balances",
             "/accounts/gsa:cash/postings", "/accounts/check", "/channels/gsa/verify", "/log/checkpoint",
             "/log/heads?start=0&end=1", "/log/key", "/channels/gsa/proofs?seqs=1", "/verify"]
    for headers in ({}, {"Authorization": f"Bearer {expired}"}, {"Authorization": f"Bearer {foreign}"}):
        for path in paths:
            response = await client.get(path, headers=headers)
            assert response.status_code == 401, (path, headers)


async def test_bad_query_parameters_are_rejected_naming_the_field(client):
    headers = await _token(client, "gsa-operator")
    naive = await client.get("/channels/gsa/entries", params={"from": "2024-01-01T00:00:00"}, headers=headers)
    assert naive.status_code == 422 and "from" in naive.text
    backwards = await client.get("/channels/gsa/entries", params={"from": "2024-02-01T00:00:00Z",
                                                                  "to": "2024-01-01T00:00:00Z"}, headers=headers)
    assert backwards.status_code == 422 and "from" in backwards.text
    limit = await client.get("/channels/gsa/entries", params={"limit": 0}, headers=headers)
    assert limit.status_code == 422 and "limit" in limit.text
    missing = await client.get("/channels/resident:nope-nope/entries", headers=headers)
    assert missing.status_code == 404
    seqs = await client.get("/channels/gsa/proofs", params={"seqs": "1,x"}, headers=headers)
    assert seqs.status_code == 422 and "seqs" in seqs.text
    sizes = await client.get("/log/proof/consistency", params={"from": 5, "to": 2}, headers=headers)
    assert sizes.status_code == 422 and "from" in sizes.text
    beyond = await client.get("/log/proof/consistency", params={"from": 1, "to": 2**61}, headers=headers)
    assert beyond.status_code == 404


async def test_nul_bytes_in_a_login_form_or_a_channel_path_are_400_problems_not_500(client):
    """PostgreSQL text cannot hold U+0000: the guard refuses it before the database is asked."""
    login = await client.post("/auth/token", content=b"username=luis%00&password=x",
                              headers={"content-type": "application/x-www-form-urlencoded"})
    assert login.status_code == 400 and login.headers["content-type"] == "application/problem+json"
    assert login.json()["field"] == "username"
    headers = await _token(client, "gsa-operator")
    channel = await client.get("/channels/resident:house-01%00/entries", headers=headers)
    assert channel.status_code == 400 and channel.json()["field"] == "path", channel.text
    # and the refusals of the routes themselves are problems too
    limit = await client.get("/channels/gsa/entries", params={"limit": 0}, headers=headers)
    assert limit.headers["content-type"] == "application/problem+json" and limit.json()["field"] == "limit"
