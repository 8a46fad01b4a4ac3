"""Who may read which escrow, and bad query parameters: answered before any state is read (no database here)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from energychain_shared import keys
from energychain_shared.auth import Principal, Role, issue_token
from energychain_shared.registry import Contract, Municipality, Registry, Resident

from energychain_escrow.api import create_app
from energychain_escrow.context import EscrowContext
from energychain_escrow.settings import EscrowSettings

pytestmark = pytest.mark.unit

ROUTES = ["", "/monthly", "/movements", "/rollovers", "/past-due"]


class NoDatabase:
    """Fails the test if a request that must be refused reaches the state."""

    def connect(self):
        raise AssertionError("the request reached the database")

    begin = connect


@pytest.fixture
def client_and_tokens(tmp_path):
    keys_dir = tmp_path / "keys"
    keys.ensure_key_pair(keys_dir, keys.TOKEN_KEY)
    settings = EscrowSettings(keys_dir=keys_dir)
    contract = Contract(rate_usd_per_kwh=Decimal("0.23"), battery_wh=10_000, reserve_wh=2_000,
                        start_date=date(2021, 7, 1))
    registry = Registry(
        municipalities=(Municipality(municipality_id="alpha", name="Alpha"),
                        Municipality(municipality_id="beta", name="Beta")),
        residents=(Resident(house_id="a1", username="ann", name="Ann", address="1 A St", municipality_id="alpha",
                            contract=contract),),
    )
    ctx = EscrowContext(settings=settings, registry=registry, engine=NoDatabase(),  # type: ignore[arg-type]
                        signing_key=Ed25519PrivateKey.generate())
    key = keys.load_private_key(keys_dir, keys.TOKEN_KEY)

    def bearer(principal: Principal) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(key, principal, ttl=timedelta(minutes=5))}"}

    tokens = {
        "resident": bearer(Principal(role=Role.RESIDENT, subject="ann", municipality_id="alpha", house_id="a1")),
        "alpha": bearer(Principal(role=Role.MUNICIPALITY, subject="alice", municipality_id="alpha")),
        "gsa": bearer(Principal(role=Role.GSA, subject="op")),
    }
    transport = httpx.ASGITransport(app=create_app(settings, context=ctx))
    return httpx.AsyncClient(transport=transport, base_url="http://escrow"), tokens


async def test_residents_are_refused_every_escrow_route(client_and_tokens):
    client, tokens = client_and_tokens
    async with client:
        paths = [f"/municipality/escrow{r}" for r in ROUTES] + ["/gsa/escrow"] + [f"/gsa/escrow/alpha{r}" for r in ROUTES]
        for path in paths:
            assert (await client.get(path, headers=tokens["resident"])).status_code == 403, path


async def test_a_municipality_is_refused_the_gsa_routes_even_for_itself_and_for_another(client_and_tokens):
    client, tokens = client_and_tokens
    async with client:
        for m in ("alpha", "beta"):
            for r in ROUTES:
                assert (await client.get(f"/gsa/escrow/{m}{r}", headers=tokens["alpha"])).status_code == 403
        assert (await client.get("/gsa/escrow", headers=tokens["alpha"])).status_code == 403


async def test_no_token_is_unauthorised(client_and_tokens):
    client, _tokens = client_and_tokens
    async with client:
        assert (await client.get("/municipality/escrow")).status_code == 401


async def test_an_unknown_municipality_is_not_found_naming_it(client_and_tokens):
    client, tokens = client_and_tokens
    async with client:
        for r in ROUTES:
            response = await client.get(f"/gsa/escrow/nowhere{r}", headers=tokens["gsa"])
            assert response.status_code == 404 and "municipality_id" in response.text, r


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/municipality/escrow/monthly", {"from": "2021-13"}, "from"),
        ("/municipality/escrow/monthly", {"to": "July"}, "to"),
        ("/municipality/escrow/monthly", {"from": "2021-09", "to": "2021-08"}, "to"),
        ("/municipality/escrow/movements", {"from": "yesterday"}, "from"),
        ("/municipality/escrow/movements", {"from": "2021-09-02T00:00:00Z", "to": "2021-09-01T00:00:00Z"}, "to"),
        ("/gsa/escrow/alpha/monthly", {"to": "2021-1"}, "to"),
    ],
)
async def test_bad_query_parameters_are_422_naming_the_field(client_and_tokens, path, params, field):
    client, tokens = client_and_tokens
    role = "gsa" if path.startswith("/gsa") else "alpha"
    async with client:
        response = await client.get(path, params=params, headers=tokens[role])
    assert response.status_code == 422
    assert f'"{field}"' in response.text
