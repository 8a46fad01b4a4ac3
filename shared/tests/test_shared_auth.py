"""Tokens carry role, subject and municipality; only our key's unexpired tokens are accepted."""

from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from energychain_shared.auth import (
    InvalidToken, Principal, Revocation, Revocations, Role, issue_token, subject_digest, verify_token,
)
from energychain_shared.channels import GSA_CHANNEL, municipality_channel, resident_channel

pytestmark = pytest.mark.unit

KEY = Ed25519PrivateKey.generate()
LUIS = Principal(role=Role.RESIDENT, subject="luis", municipality_id="parlier", house_id="house-01")
STEPHEN = Principal(role=Role.MUNICIPALITY, subject="stephen", municipality_id="parlier")
OPERATOR = Principal(role=Role.GSA, subject="operator")


def test_token_round_trip_keeps_role_subject_municipality_house_and_issue_time():
    now = datetime(2026, 12, 1, 9, 0, 0, 250_000, tzinfo=timezone.utc)
    token = issue_token(KEY, LUIS, ttl=timedelta(days=36500), now=now)
    assert verify_token(KEY.public_key(), token) == LUIS.model_copy(update={"issued_at": now.timestamp()})


def test_a_revocation_refuses_a_disabled_users_tokens_and_the_tokens_issued_before_a_password_change():
    changed = datetime(2026, 12, 1, 9, 0, 0, 500_000, tzinfo=timezone.utc)
    revoked = Revocations([Revocation(subject_digest("luis"), changed), Revocation(subject_digest("stephen"), None)])
    before, after = changed - timedelta(milliseconds=1), changed + timedelta(milliseconds=1)
    assert revoked.refuses(LUIS.model_copy(update={"issued_at": before.timestamp()}))
    assert not revoked.refuses(LUIS.model_copy(update={"issued_at": after.timestamp()}))
    assert revoked.refuses(STEPHEN.model_copy(update={"issued_at": after.timestamp()}))
    assert not revoked.refuses(OPERATOR.model_copy(update={"issued_at": before.timestamp()}))
    revoked.replace([])
    assert not revoked.refuses(STEPHEN)


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
