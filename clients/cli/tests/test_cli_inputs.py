"""The CLI checks amounts and times before calling the API and reads the role from the saved token."""

from datetime import datetime, timedelta, timezone

import typer
import pytest

from energychain_shared import keys
from energychain_shared.auth import Principal, Role, issue_token

from energychain_cli.client import Api
from energychain_cli.main import _utc_iso, current_role, parse_amount

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("text", "sent"), [("42.17", "42.17"), ("5", "5"), ("0.5", "0.5")])
def test_amounts_go_to_the_api_as_exact_decimal_strings(text, sent):
    assert parse_amount(text) == sent


@pytest.mark.parametrize("text", ["-1", "0", "1.234", "ten"])
def test_amounts_that_cannot_be_paid_stop_before_any_request(text):
    with pytest.raises(typer.Exit):
        parse_amount(text)


def test_the_role_comes_from_the_saved_token(tmp_path, ec_settings):
    keys.ensure_key_pair(tmp_path, keys.TOKEN_KEY)
    token = issue_token(
        keys.load_private_key(tmp_path, keys.TOKEN_KEY),
        Principal(role=Role.MUNICIPALITY, subject="stephen", municipality_id="parlier"),
        ttl=timedelta(minutes=5),
    )
    assert current_role(Api(ec_settings, token=token)) == "municipality"


def test_a_transactions_range_typed_without_a_zone_is_sent_as_utc():
    assert _utc_iso(datetime(2021, 9, 1)) == "2021-09-01T00:00:00+00:00"
    assert _utc_iso(datetime(2021, 9, 1, tzinfo=timezone(timedelta(hours=-7)))) == "2021-09-01T00:00:00-07:00"
    assert _utc_iso(None) is None
