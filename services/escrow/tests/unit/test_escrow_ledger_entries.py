"""Every ledger append escrow builds: balanced, signed, and exactly the transfers of docs/CONVENTIONS.md."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from energychain_shared import events, keys
from energychain_shared.channels import municipality_channel, resident_channel

from energychain_escrow.domain.book import EscrowBook, Terms
from energychain_escrow.domain.timeline import Fact, apply
from energychain_escrow.ledger_entries import ledger_entry

pytestmark = pytest.mark.unit
UTC = timezone.utc
LA = ZoneInfo("America/Los_Angeles")
KEY = Ed25519PrivateKey.generate()
AT = datetime(2021, 9, 24, 7, tzinfo=UTC)

# The table "Money on the ledger" for municipality m and resident h: (debit, credit) per movement kind.
CONVENTIONS = {
    "endowment": [("municipality:m:escrow", "municipality:m:endowment")],
    "payment_share": [("municipality:m:escrow", "gsa:cash")],
    "repayment": [("municipality:m:escrow", "gsa:cash"), ("resident:h:receivable", "resident:h:escrow-debt")],
    "past_due_cover": [("gsa:cash", "municipality:m:escrow"), ("resident:h:escrow-debt", "resident:h:receivable")],
    "treasury_rollover": [("municipality:m:treasury", "municipality:m:escrow")],
}
RESIDENT_KINDS = {"repayment", "past_due_cover"}


def moved(kind: str, amount: int, *, house: str | None = "h", municipality: str = "m") -> events.EscrowMoved:
    return events.EscrowMoved(
        event_id=f"mv-{kind}", occurred_at=AT, producer="escrow", movement_id=f"mv-{kind}",
        municipality_id=municipality, kind=kind, amount_cents=amount, balance_after_cents=0,
        house_id=house, invoice_id="i1" if kind == "past_due_cover" else None,
    )


def net(append: events.LedgerAppendRequested) -> Counter:
    """Each account's change (debits minus credits) from one append."""
    change: Counter = Counter()
    for transfer in append.transfers:
        change[transfer.debit_account] += transfer.amount_cents
        change[transfer.credit_account] -= transfer.amount_cents
    return change


@pytest.mark.parametrize(
    ("kind", "amount"),
    [("endowment", 100_000), ("payment_share", 167), ("repayment", 5_000), ("past_due_cover", -4_000),
     ("treasury_rollover", -975)],
)
def test_each_movement_posts_exactly_the_conventions_transfers_for_its_amount(kind, amount):
    house = "h" if kind in ("payment_share", "repayment", "past_due_cover") else None
    append = ledger_entry(KEY, moved(kind, amount, house=house))
    assert [(t.debit_account, t.credit_account) for t in append.transfers] == CONVENTIONS[kind]
    assert {t.amount_cents for t in append.transfers} == {abs(amount)}


@pytest.mark.parametrize(
    ("kind", "amount"),
    [("endowment", 100_000), ("payment_share", 167), ("repayment", 5_000), ("past_due_cover", -4_000),
     ("treasury_rollover", -975)],
)
def test_each_append_is_balanced_and_moves_the_escrow_account_by_the_signed_amount(kind, amount):
    change = net(ledger_entry(KEY, moved(kind, amount)))
    assert sum(change.values()) == 0
    assert change["municipality:m:escrow"] == amount
    # A resident's balance is receivable + escrow debt: escrow only moves money between the two.
    assert change["resident:h:receivable"] + change["resident:h:escrow-debt"] == 0


def test_appends_go_to_the_municipality_channel_and_to_the_resident_channel_only_when_it_concerns_the_resident():
    for kind, amount in (("payment_share", 167), ("repayment", 5_000), ("past_due_cover", -4_000),
                         ("endowment", 100_000), ("treasury_rollover", -975)):
        append = ledger_entry(KEY, moved(kind, amount))
        expected = [municipality_channel("m")] + ([resident_channel("h")] if kind in RESIDENT_KINDS else [])
        assert list(append.channels) == expected, kind


def test_an_entry_a_resident_can_read_does_not_show_the_escrow_balance():
    for kind, amount in (("repayment", 5_000), ("past_due_cover", -4_000)):
        body = ledger_entry(KEY, moved(kind, amount)).body
        assert "balance_after_cents" not in body and body["amount_cents"] == amount, kind
    assert "balance_after_cents" in ledger_entry(KEY, moved("payment_share", 167)).body  # municipality's channel only


def test_appends_are_signed_by_escrow_and_their_ids_follow_the_movement():
    one = ledger_entry(KEY, moved("payment_share", 167))
    assert keys.verify(KEY.public_key(), one.signing_payload(), one.signature)
    assert one.producer == "escrow" and one.kind == "escrow_payment_share"
    assert ledger_entry(KEY, moved("payment_share", 167)).entry_id == one.entry_id  # redelivery: same entry
    assert ledger_entry(KEY, moved("repayment", 5_000)).entry_id != one.entry_id


def test_a_year_of_movements_builds_only_balanced_appends_on_the_conventions_accounts():
    """Every append built from a generated history: balanced, and only the accounts of its own municipality."""
    terms = Terms(endowment_cents=100_000, share_percent=Decimal("5"), cap_cents=101_000)
    facts = []
    for month in range(1, 13):
        facts.append(Fact(datetime(2021, month, 10, tzinfo=UTC), "payment", f"p{month}", "h", 12_345 + month))
        if month in (3, 7):
            facts.append(Fact(datetime(2021, month, 24, 7, tzinfo=UTC), "past_due", f"d{month}", "h", 150_000,
                              f"i{month}"))
    movements = apply(EscrowBook(terms), facts, zone=LA, program_start=datetime(2021, 1, 1, 8, tzinfo=UTC),
                      upto=datetime(2022, 1, 2, tzinfo=UTC))
    assert {m.kind for m in movements} == set(CONVENTIONS)  # the history exercises every kind
    allowed = {account for pairs in CONVENTIONS.values() for pair in pairs for account in pair}
    escrow_total = 0
    for movement in movements:
        append = ledger_entry(KEY, moved(movement.kind, movement.amount_cents, house=movement.house_id))
        change = net(append)
        assert sum(change.values()) == 0
        assert set(change) <= allowed
        escrow_total += change["municipality:m:escrow"]
    # The ledger's escrow account ends where the book does.
    assert escrow_total == movements[-1].balance_after_cents


def test_a_municipalitys_appends_never_touch_another_municipalitys_accounts_or_channels():
    for kind, amount in (("endowment", 1), ("payment_share", 1), ("repayment", 1), ("past_due_cover", -1),
                         ("treasury_rollover", -1)):
        append = ledger_entry(KEY, moved(kind, amount, municipality="alpha", house="a1"))
        touched = {a for t in append.transfers for a in (t.debit_account, t.credit_account)}
        assert all(a.startswith(("municipality:alpha:", "resident:a1:", "gsa:")) for a in touched), touched
        assert all(c in ("municipality:alpha", "resident:a1") for c in append.channels)
