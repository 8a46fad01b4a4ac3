"""Users the GSA manages, a user's own password, revocation of tokens, and sign-in throttling, on the real
database through the ledger's API (and a second API that follows the ledger's revocation list)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Annotated

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import Depends, FastAPI
from prometheus_client import REGISTRY

from energychain_ledger.api import build_app
from energychain_ledger.bootstrap import open_ledger
from energychain_shared.auth import Principal, Revocations, current_principal
from energychain_shared.revocation_feed import follow_revocations

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery"


def _logins(outcome: str) -> float:
    return REGISTRY.get_sample_value("ledger_logins_total", {"outcome": outcome}) or 0.0


@pytest.fixture
async def api(ledger_settings, unique):
    """The ledger's API with a GSA operator of this test; sign-in locks after 3 failures for 2 s."""
    settings = ledger_settings.model_copy(update={
        "ledger_login_max_failures": 3, "ledger_login_max_failures_per_address": 5, "ledger_login_lockout_s": 2.0,
        "ledger_login_window_s": 60.0, "token_revocation_refresh_s": 0.2, "registry_refresh_s": 60.0,
    })
    ledger = await open_ledger(settings)
    try:
        await ledger.store.upsert_user(username=f"gsa-{unique}", password_hash=PasswordHasher().hash(PASSWORD),
                                       role="gsa", municipality_id=None, house_id=None)
    finally:
        await ledger.close()
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ledger") as http:
            yield http, app


def _from(address: str) -> dict[str, str]:
    """A request through the web server's proxy for a browser at ``address`` (the test client is loopback)."""
    return {"X-Forwarded-For": address}


def _address() -> str:
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"


async def _sign_in(http, username: str, password: str, address: str) -> httpx.Response:
    return await http.post("/auth/token", data={"username": username, "password": password}, headers=_from(address))


async def _bearer(http, username: str, password: str = PASSWORD) -> dict[str, str]:
    answer = await _sign_in(http, username, password, _address())
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def _created(http, unique: str, user: dict) -> tuple[dict[str, str], str, dict[str, str]]:
    """The test's GSA creates ``user`` (password PASSWORD): (GSA bearer, username, the new user's bearer)."""
    gsa = await _bearer(http, f"gsa-{unique}")
    created = await http.post("/admin/users", json={**user, "password": PASSWORD}, headers=gsa)
    assert created.status_code == 201, created.text
    return gsa, user["username"], await _bearer(http, user["username"])


async def test_wrong_passwords_then_the_right_one_get_429_with_retry_after_until_the_lockout_ends(api, unique):
    http, _ = api
    gsa, address = f"gsa-{unique}", _address()
    failed, throttled = _logins("failed"), _logins("throttled")
    for _ in range(3):
        assert (await _sign_in(http, gsa, "wrong password", address)).status_code == 401
    locked = await _sign_in(http, gsa, PASSWORD, address)
    assert locked.status_code == 429, locked.text
    retry_after = int(locked.headers["Retry-After"])
    assert 1 <= retry_after <= 2 and "too many failed sign-ins" in locked.text
    # another address does not unlock the username
    assert (await _sign_in(http, gsa, PASSWORD, _address())).status_code == 429
    assert (_logins("failed") - failed, _logins("throttled") - throttled) == (3, 2)
    await asyncio.sleep(retry_after + 0.1)
    assert (await _sign_in(http, gsa, PASSWORD, address)).status_code == 200
    # and the right password cleared the username's count: two more failures do not lock it
    for _ in range(2):
        assert (await _sign_in(http, gsa, "wrong password", _address())).status_code == 401
    assert (await _sign_in(http, gsa, PASSWORD, _address())).status_code == 200


async def test_one_address_guessing_many_usernames_is_locked_for_every_username(api, unique):
    http, _ = api
    address = _address()
    for n in range(5):
        assert (await _sign_in(http, f"nobody-{n}-{unique}", "guess", address)).status_code == 401
    assert (await _sign_in(http, f"gsa-{unique}", PASSWORD, address)).status_code == 429
    assert (await _sign_in(http, f"gsa-{unique}", PASSWORD, _address())).status_code == 200


async def test_the_gsa_creates_a_resident_user_who_signs_in_to_its_own_channel(api, unique):
    http, _ = api
    gsa = await _bearer(http, f"gsa-{unique}")
    body = {"username": f"maria-{unique}", "role": "resident", "password": PASSWORD, "house_id": "house-02"}
    created = await http.post("/admin/users", json=body, headers=gsa)
    assert created.status_code == 201, created.text
    assert {k: created.json()[k] for k in ("role", "house_id", "municipality_id", "disabled_at")} == {
        "role": "resident", "house_id": "house-02", "municipality_id": "parlier", "disabled_at": None}
    assert (await http.post("/admin/users", json=body, headers=gsa)).status_code == 409
    maria = await _bearer(http, f"maria-{unique}")
    channels = {c["channel"] for c in (await http.get("/channels", headers=maria)).json()}
    assert channels == {"resident:house-02"}
    assert (await http.post("/admin/users", json={**body, "username": f"x-{unique}"}, headers=maria)).status_code == 403
    listed = (await http.get("/admin/users", params={"role": "resident", "after": f"maria-{unique}"[:-1]},
                             headers=gsa)).json()
    assert f"maria-{unique}" in [u["username"] for u in listed]
    assert all("password_hash" not in u for u in listed)


@pytest.mark.parametrize(("changes", "field"), [
    ({"house_id": "house-99"}, "house_id"), ({"password": "short"}, "password"), ({"role": "gsa"}, "role"),
    ({"role": "municipality", "house_id": None, "municipality_id": "fresno"}, "municipality_id"),
    ({"username": "Has Space"}, "username"),
])
async def test_a_user_breaking_a_rule_is_422_naming_the_field(api, unique, changes, field):
    http, _ = api
    gsa = await _bearer(http, f"gsa-{unique}")
    body = {"username": f"maria-{unique}", "role": "resident", "password": PASSWORD, "house_id": "house-02", **changes}
    refused = await http.post("/admin/users", json=body, headers=gsa)
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == field, refused.json()


async def test_a_disabled_user_cannot_sign_in_and_its_tokens_stop_working_here_and_in_another_service(api, unique):
    http, ledger_app = api
    gsa, name, token = await _created(http, unique, {"username": f"stephen-{unique}", "role": "municipality",
                                                     "municipality_id": "parlier"})

    # Another service: any API that follows the ledger's revocation list (billing, escrow, market, meter-ingest).
    other = FastAPI()
    other.state.token_public_key = ledger_app.state.token_private_key.public_key()
    other.state.revocations = Revocations()

    @other.get("/me")
    async def me(principal: Annotated[Principal, Depends(current_principal)]) -> dict:
        return {"subject": principal.subject}

    settings = ledger_app.state.ledger.settings.model_copy(update={"token_revocation_refresh_s": 0.2})
    feed = asyncio.create_task(follow_revocations(other.state.revocations, settings,
                                                  transport=httpx.ASGITransport(app=ledger_app)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=other), base_url="http://other") as service:
        try:
            assert (await service.get("/me", headers=token)).status_code == 200
            assert (await http.get("/channels", headers=token)).status_code == 200
            disabled = await http.post(f"/admin/users/{name}/disable", headers=gsa)
            assert disabled.status_code == 200 and disabled.json()["disabled_at"] is not None
            refused = await http.get("/channels", headers=token)  # the ledger: at once
            assert refused.status_code == 401 and "revoked" in refused.text
            signed = await _sign_in(http, name, PASSWORD, _address())
            assert signed.status_code == 401 and "disabled" in signed.text
            started = time.monotonic()
            while (await service.get("/me", headers=token)).status_code == 200:
                assert time.monotonic() - started < 2, "the other service still honours the token after 2 s"
                await asyncio.sleep(0.05)
            # enabled again: a new sign-in works everywhere, the token from before stays refused
            assert (await http.post(f"/admin/users/{name}/enable", headers=gsa)).status_code == 200
            fresh = await _bearer(http, name)
            assert (await http.get("/channels", headers=fresh)).status_code == 200
            assert (await http.get("/channels", headers=token)).status_code == 401
            await asyncio.sleep(0.5)
            assert (await service.get("/me", headers=fresh)).status_code == 200
            assert (await service.get("/me", headers=token)).status_code == 401
        finally:
            feed.cancel()
    assert (await http.post(f"/admin/users/{name}/disable", headers={})).status_code == 401
    assert (await http.post(f"/admin/users/gsa-{unique}/disable", headers=gsa)).status_code == 409  # not itself
    assert (await http.post(f"/admin/users/nobody-{unique}/disable", headers=gsa)).status_code == 404


async def test_a_user_changes_its_own_password_and_its_older_tokens_stop_working(api, unique):
    http, _ = api
    gsa, name, old = await _created(http, unique, {"username": f"angela-{unique}", "role": "resident",
                                                   "house_id": "house-03"})
    wrong = await http.post("/auth/password", json={"current_password": "nope", "new_password": "a new passphrase"},
                            headers=old)
    assert wrong.status_code == 401
    short = await http.post("/auth/password", json={"current_password": PASSWORD, "new_password": "short"},
                            headers=old)
    assert short.status_code == 422 and short.json()["field"] == "new_password"
    changed = await http.post("/auth/password", json={"current_password": PASSWORD,
                                                      "new_password": "a new passphrase"}, headers=old)
    assert changed.status_code == 204, changed.text
    assert (await http.get("/channels", headers=old)).status_code == 401
    assert (await _sign_in(http, name, PASSWORD, _address())).status_code == 401
    new = await _bearer(http, name, "a new passphrase")
    assert (await http.get("/channels", headers=new)).status_code == 200
    revoked = (await http.get("/auth/revocations")).json()["revoked"]
    assert name not in str(revoked) and len(revoked[0]["subject_sha256"]) == 64


async def test_a_house_enrolled_a_moment_ago_can_be_given_its_resident_user_at_once(api, ledger_settings, unique):
    from datetime import date, datetime, timezone
    from decimal import Decimal

    from energychain_shared import events, topics
    from energychain_shared.kafka import ensure_topics, make_producer
    from energychain_shared.registry import Contract, Municipality, Resident

    http, _ = api
    town = Municipality(municipality_id=f"sanger-{unique}", name="Sanger")
    house = Resident(house_id=f"house-{unique}", username=f"res-{unique}", name="New Resident", address="2 Oak St",
                     municipality_id=town.municipality_id,
                     contract=Contract(rate_usd_per_kwh=Decimal("0.2"), battery_wh=9000, reserve_wh=900,
                                       start_date=date(2022, 3, 1)))
    at = datetime(2022, 3, 1, 8, tzinfo=timezone.utc)
    await ensure_topics(ledger_settings, [topics.PROGRAM_REGISTRY])
    producer = make_producer(ledger_settings, client_id="ledger-test-enrol")
    await producer.start()
    try:
        for event in (events.MunicipalityOnboarded(event_id=events.MunicipalityOnboarded.id_for(town), occurred_at=at,
                                                   producer="billing", municipality=town),
                      events.ResidentEnrolled(event_id=events.ResidentEnrolled.id_for(house), occurred_at=at,
                                              producer="billing", resident=house)):
            await (await producer.send(ledger_settings.topic(topics.PROGRAM_REGISTRY), events.encode(event),
                                       key=event.partition_key.encode()))
    finally:
        await producer.stop()
    # No wait for the registry's refresh: the ledger reads the topic when it does not know the house.
    gsa = await _bearer(http, f"gsa-{unique}")
    created = await http.post("/admin/users", json={"username": house.username, "role": "resident",
                                                    "house_id": house.house_id, "password": PASSWORD}, headers=gsa)
    assert created.status_code == 201, created.text
    assert created.json()["municipality_id"] == town.municipality_id
