"""Tokens carry role, subject and municipality; only our key's unexpired tokens are accepted."""

from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from energychain_shared.auth import InvalidToken, Principal, Role, issue_token, verify_token
from energychain_shared.channels import GSA_CHANNEL, municipality_channel, resident_channel

pytestmark = pytest.mark.unit

KEY = Ed25519PrivateKey.generate()
LUIS = Principal(role=Role.RESIDENT, subject="luis", municipality_id="parlier", house_id="house-01")
STEPHEN = Principal(role=Role.MUNICIPALITY, subject="stephen", municipality_id="parlier")
OPERATOR = Principal(role=Role.GSA, subject="operator")


def test_token_round_trip_keeps_role_subject_municipality_and_house():
    token = issue_token(KEY, LUIS, ttl=timedelta(minutes=5))
    assert verify_token(KEY.public_key(), token) == LUIS


def test_expired_token_is_refused():
    token = issue_token(KEY, LUIS, ttl=timedelta(minutes=5), now=datetime.now(timezone.utc) - timedelta(hours=1))
    with pytest.raises(InvalidToken, match="expired"):
        verify_token(KEY.public_key(), token)


def test_token_signed_by_another_key_is_refused():
    token = issue_token(Ed25519PrivateKey.generate(), LUIS, ttl=timedelta(minutes=5))
    with pytest.raises(InvalidToken):
        verify_token(KEY.public_key(), token)


def test_tampered_token_is_refused():
    header, payload, signature = issue_token(KEY, LUIS, ttl=timedelta(minutes=5)).split(".")
    forged = issue_token(KEY, OPERATOR, ttl=timedelta(minutes=5)).split(".")[1]
    with pytest.raises(InvalidToken):
        verify_token(KEY.public_key(), ".".join([header, forged, signature]))


def test_channel_membership_follows_the_fabric_design():
    mine, other = resident_channel("house-01"), resident_channel("house-02")
    assert LUIS.may_read_channel(mine, channel_municipality="parlier")
    assert not LUIS.may_read_channel(other, channel_municipality="parlier")
    assert not LUIS.may_read_channel(municipality_channel("parlier"), channel_municipality="parlier")
    assert STEPHEN.may_read_channel(mine, channel_municipality="parlier")
    assert STEPHEN.may_read_channel(municipality_channel("parlier"), channel_municipality="parlier")
    assert not STEPHEN.may_read_channel(resident_channel("house-r01"), channel_municipality="reedley")
    assert not STEPHEN.may_read_channel(GSA_CHANNEL, channel_municipality=None)
    assert OPERATOR.may_read_channel(GSA_CHANNEL, channel_municipality=None)
