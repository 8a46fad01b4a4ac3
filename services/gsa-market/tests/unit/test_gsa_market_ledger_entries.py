"""The market's ledger entries follow CONVENTIONS.md "Money on the ledger"."""

from datetime import datetime, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from energychain_shared.channels import Accounts, resident_channel
from energychain_shared.keys import verify

from energychain_market.ledger_entries import settlement_entry, settlement_transfers

pytestmark = pytest.mark.unit


def test_trade_settled_credits_the_resident_receivable_and_the_fee_account_from_gsa_cash():
    transfers = settlement_transfers("house-01", credit_cents=52, fee_cents=6)
    assert [(t.debit_account, t.credit_account, t.amount_cents) for t in transfers] == [
        (Accounts.GSA_CASH, Accounts.resident_receivable("house-01"), 52),
        (Accounts.GSA_CASH, Accounts.GSA_FEES, 6),
    ]


def test_zero_amounts_post_no_transfer():
    assert settlement_transfers("house-03", credit_cents=0, fee_cents=0) == ()
    assert len(settlement_transfers("house-03", credit_cents=1, fee_cents=0)) == 1


def test_settlement_entry_is_signed_on_the_resident_channel_with_a_deterministic_id():
    key = Ed25519PrivateKey.generate()
    when = datetime(2021, 8, 11, 3, tzinfo=timezone.utc)
    entry = settlement_entry(key, house_id="house-02", settlement_id="s1", occurred_at=when, body={"x": 1},
                             credit_cents=10, fee_cents=1)
    again = settlement_entry(key, house_id="house-02", settlement_id="s1", occurred_at=when, body={"x": 1},
                             credit_cents=10, fee_cents=1)
    assert entry.channels == (resident_channel("house-02"),)
    assert entry.entry_id == again.entry_id
    assert verify(key.public_key(), entry.signing_payload(), entry.signature)
