"""Escrow's rules, pure: shares, repayment first, cover up to what escrow holds, rollover above the cap."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from energychain_escrow.domain.book import EscrowBook, Terms, share_of
from energychain_escrow.domain.timeline import Fact, apply

pytestmark = pytest.mark.unit
UTC = timezone.utc
LA = ZoneInfo("America/Los_Angeles")
TERMS = Terms(endowment_cents=100_000, share_percent=Decimal("5"), cap_cents=250_000)
AT = datetime(2021, 9, 1, tzinfo=UTC)


def book(balance: int = 100_000, **debts: int) -> EscrowBook:
    return EscrowBook(TERMS, balance_cents=balance, endowed=True, debts=dict(debts), opened_month="2021-07")


def test_five_percent_of_every_payment_goes_to_escrow_rounded_half_up():
    assert share_of(3333, Decimal("5")) == 167  # 166.65
    assert share_of(3330, Decimal("5")) == 167  # 166.5
    assert share_of(3329, Decimal("5")) == 166  # 166.45
    moves = book().pay(house_id="h1", amount_cents=3333, payment_id="p1", at=AT, month="2021-09")
    assert [(m.kind, m.amount_cents, m.balance_after_cents) for m in moves] == [("payment_share", 167, 100_167)]


def test_a_payment_repays_escrow_first_and_shares_only_the_rest():
    moves = book(1_000, h1=5_000).pay(house_id="h1", amount_cents=7_000, payment_id="p1", at=AT, month="2021-09")
    assert [(m.kind, m.amount_cents) for m in moves] == [("repayment", 5_000), ("payment_share", 100)]


def test_a_payment_smaller_than_the_debt_is_all_repayment():
    escrow = book(1_000, h1=5_000)
    moves = escrow.pay(house_id="h1", amount_cents=2_000, payment_id="p1", at=AT, month="2021-09")
    assert [(m.kind, m.amount_cents) for m in moves] == [("repayment", 2_000)]
    assert escrow.debts["h1"] == 3_000


def test_past_due_is_covered_in_full_when_escrow_holds_enough_and_becomes_the_residents_debt():
    escrow = book(100_000)
    moves = escrow.cover(house_id="h1", invoice_id="i1", unpaid_cents=4_000, due_at=AT, month="2021-09")
    assert [(m.kind, m.amount_cents, m.balance_after_cents) for m in moves] == [("past_due_cover", -4_000, 96_000)]
    assert escrow.debts == {"h1": 4_000}


def test_escrow_short_covers_what_it_holds_and_the_shortfall_stays_past_due():
    escrow = book(1_500)
    moves = escrow.cover(house_id="h1", invoice_id="i1", unpaid_cents=4_000, due_at=AT, month="2021-09")
    assert [m.amount_cents for m in moves] == [-1_500] and escrow.balance_cents == 0
    (invoice,) = escrow.past_due
    assert (invoice.covered_cents, invoice.shortfall_cents, invoice.outstanding_cents) == (1_500, 2_500, 4_000)


def test_an_empty_escrow_covers_nothing_but_the_invoice_is_listed_past_due():
    escrow = book(0)
    assert escrow.cover(house_id="h1", invoice_id="i1", unpaid_cents=4_000, due_at=AT, month="2021-09") == []
    assert [i.invoice_id for i in escrow.past_due] == ["i1"]


def test_later_payments_clear_past_due_invoices_oldest_first():
    escrow = book(0)
    escrow.cover(house_id="h1", invoice_id="i1", unpaid_cents=1_000, due_at=AT, month="2021-09")
    escrow.cover(house_id="h1", invoice_id="i2", unpaid_cents=1_000, due_at=AT, month="2021-09")
    escrow.pay(house_id="h1", amount_cents=1_500, payment_id="p1", at=AT, month="2021-09")
    assert [(i.invoice_id, i.outstanding_cents) for i in escrow.past_due] == [("i2", 500)]


def test_only_the_balance_above_the_cap_rolls_over_at_month_end():
    escrow = book(260_000)
    moves = escrow.month_end(month="2021-09", at=AT)
    assert [(m.kind, m.amount_cents, m.balance_after_cents) for m in moves] == [("treasury_rollover", -10_000, 250_000)]
    assert book(250_000).month_end(month="2021-09", at=AT) == []


def test_a_month_end_is_applied_once():
    escrow = book(260_000)
    escrow.month_end(month="2021-09", at=AT)
    escrow.balance_cents = 300_000
    assert escrow.month_end(month="2021-09", at=AT) == []


def test_the_endowment_is_made_once_at_the_program_start():
    escrow = EscrowBook(TERMS)
    start = datetime(2021, 7, 1, 7, tzinfo=UTC)
    first = apply(escrow, [], zone=LA, program_start=start, upto=datetime(2021, 7, 2, tzinfo=UTC))
    again = apply(escrow, [], zone=LA, program_start=start, upto=datetime(2021, 7, 3, tzinfo=UTC))
    assert [(m.kind, m.amount_cents) for m in first] == [("endowment", 100_000)] and again == []


def test_facts_apply_in_event_time_order_whatever_order_they_arrive_in():
    start = datetime(2021, 7, 1, 7, tzinfo=UTC)
    facts = [
        Fact(datetime(2021, 7, 20, tzinfo=UTC), "payment", "p2", "h1", 2_000),
        Fact(datetime(2021, 7, 10, tzinfo=UTC), "past_due", "d1", "h1", 3_000, "i1"),
        Fact(datetime(2021, 7, 10, tzinfo=UTC), "payment", "p1", "h1", 1_000),
    ]
    one = apply(EscrowBook(TERMS), facts, zone=LA, program_start=start, upto=datetime(2021, 7, 31, tzinfo=UTC))
    other = apply(EscrowBook(TERMS), facts[::-1], zone=LA, program_start=start, upto=datetime(2021, 7, 31, tzinfo=UTC))
    assert one == other
    # The due date comes before the payment at the same instant: cover first, then the payment repays it.
    assert [(m.kind, m.amount_cents) for m in one] == [
        ("endowment", 100_000), ("past_due_cover", -3_000), ("repayment", 1_000), ("repayment", 2_000)
    ]


def test_a_rollover_at_a_month_end_comes_before_facts_at_or_after_that_instant():
    terms = Terms(endowment_cents=100_000, share_percent=Decimal("5"), cap_cents=100_000)
    start = datetime(2021, 7, 1, 7, tzinfo=UTC)
    july_end = datetime(2021, 8, 1, 7, tzinfo=UTC)  # local midnight
    facts = [
        Fact(datetime(2021, 7, 15, tzinfo=UTC), "payment", "p1", "h1", 10_000),  # +500 in July
        Fact(july_end, "payment", "p2", "h1", 10_000),  # +500 in August, after July's rollover
    ]
    moves = apply(EscrowBook(terms), facts, zone=LA, program_start=start, upto=datetime(2021, 8, 2, tzinfo=UTC))
    assert [(m.kind, m.month, m.amount_cents, m.balance_after_cents) for m in moves] == [
        ("endowment", "2021-07", 100_000, 100_000),
        ("payment_share", "2021-07", 500, 100_500),
        ("treasury_rollover", "2021-07", -500, 100_000),
        ("payment_share", "2021-08", 500, 100_500),
    ]


def test_the_book_survives_a_round_trip_through_its_saved_state():
    escrow = book(1_500, h1=700)
    escrow.cover(house_id="h1", invoice_id="i1", unpaid_cents=4_000, due_at=AT, month="2021-09")
    assert EscrowBook.from_json(TERMS, escrow.to_json()) == escrow


def test_municipalities_keep_their_own_books_and_terms():
    start = datetime(2021, 7, 1, 7, tzinfo=UTC)
    upto = datetime(2021, 7, 31, tzinfo=UTC)
    alpha, beta = EscrowBook(TERMS), EscrowBook(Terms(endowment_cents=50_000, share_percent=Decimal("10"), cap_cents=60_000))
    alpha_moves = apply(alpha, [Fact(datetime(2021, 7, 10, tzinfo=UTC), "payment", "p1", "a1", 10_000)],
                        zone=LA, program_start=start, upto=upto)
    beta_moves = apply(beta, [Fact(datetime(2021, 7, 10, tzinfo=UTC), "past_due", "d1", "b1", 8_000, "ib")],
                       zone=LA, program_start=start, upto=upto)
    assert [(m.kind, m.amount_cents) for m in alpha_moves] == [("endowment", 100_000), ("payment_share", 500)]
    assert [(m.kind, m.amount_cents) for m in beta_moves] == [("endowment", 50_000), ("past_due_cover", -8_000)]
    assert (alpha.balance_cents, alpha.debts, alpha.past_due) == (100_500, {}, [])
    assert (beta.balance_cents, beta.debts) == (42_000, {"b1": 8_000})


def test_month_ends_are_closed_up_to_the_watermark_even_without_facts():
    terms = Terms(endowment_cents=300_000, share_percent=Decimal("5"), cap_cents=250_000)
    escrow = EscrowBook(terms)
    moves = apply(escrow, [], zone=LA, program_start=datetime(2021, 7, 1, 7, tzinfo=UTC),
                  upto=datetime(2021, 9, 1, 7, tzinfo=UTC))  # exactly the local midnight ending August
    assert [(m.kind, m.month, m.amount_cents) for m in moves] == [
        ("endowment", "2021-07", 300_000), ("treasury_rollover", "2021-07", -50_000)
    ]
    assert escrow.rolled_over_until == "2021-08"  # August closed too (nothing above the cap)


def test_month_ends_are_local_midnight_in_the_municipalitys_time_zone():
    terms = Terms(endowment_cents=100_000, share_percent=Decimal("5"), cap_cents=100_000)
    start = datetime(2021, 7, 1, 7, tzinfo=UTC)
    # 06:59 UTC on 1 August is still 31 July in Los Angeles: the share belongs to July and rolls over.
    fact = Fact(datetime(2021, 8, 1, 6, 59, tzinfo=UTC), "payment", "p1", "h1", 10_000)
    moves = apply(EscrowBook(terms), [fact], zone=LA, program_start=start, upto=datetime(2021, 8, 1, 7, tzinfo=UTC))
    assert [(m.kind, m.month, m.occurred_at) for m in moves][1:] == [
        ("payment_share", "2021-07", fact.at), ("treasury_rollover", "2021-07", datetime(2021, 8, 1, 7, tzinfo=UTC))
    ]


def test_a_fact_arriving_after_its_month_was_closed_is_applied_next_in_the_open_month():
    terms = Terms(endowment_cents=100_000, share_percent=Decimal("5"), cap_cents=100_000)
    escrow = EscrowBook(terms)
    start = datetime(2021, 7, 1, 7, tzinfo=UTC)
    apply(escrow, [], zone=LA, program_start=start, upto=datetime(2021, 8, 5, tzinfo=UTC))
    late = Fact(datetime(2021, 7, 30, tzinfo=UTC), "payment", "p-late", "h1", 10_000)
    moves = apply(escrow, [late], zone=LA, program_start=start, upto=datetime(2021, 8, 6, tzinfo=UTC))
    # July's rollover stands; the share is August's, on top of the balance already reached.
    assert [(m.kind, m.month, m.amount_cents, m.balance_after_cents) for m in moves] == [
        ("payment_share", "2021-08", 500, 100_500)
    ]
    assert escrow.rolled_over_until == "2021-07"


def test_a_past_due_invoice_is_covered_once_even_if_its_notice_comes_twice():
    escrow = book(10_000)
    escrow.cover(house_id="h1", invoice_id="i1", unpaid_cents=4_000, due_at=AT, month="2021-09")
    assert escrow.cover(house_id="h1", invoice_id="i1", unpaid_cents=4_000, due_at=AT, month="2021-09") == []
    assert (escrow.balance_cents, escrow.debts) == (6_000, {"h1": 4_000})


def test_a_payment_of_another_resident_neither_repays_nor_clears_someone_elses_past_due():
    escrow = book(0)
    escrow.cover(house_id="h1", invoice_id="i1", unpaid_cents=1_000, due_at=AT, month="2021-09")
    escrow.balance_cents, escrow.debts = 5_000, {"h1": 1_000}
    moves = escrow.pay(house_id="h2", amount_cents=2_000, payment_id="p2", at=AT, month="2021-09")
    assert [(m.kind, m.amount_cents) for m in moves] == [("payment_share", 100)]
    assert escrow.debts == {"h1": 1_000} and [i.invoice_id for i in escrow.past_due] == ["i1"]


def test_a_municipality_whose_first_resident_moved_in_starts_its_escrow_on_the_move_day():
    from datetime import date
    from decimal import Decimal

    from energychain_shared.registry import Contract, Move, Municipality, Registry, Resident

    from energychain_escrow.context import EscrowContext

    fowler, reedley = Municipality(municipality_id="fowler", name="Fowler"), Municipality(municipality_id="reedley", name="Reedley")
    moved = Resident(house_id="house-9", username="rosa", name="Rosa", address="1 Main St", municipality_id="fowler",
                     contract=Contract(rate_usd_per_kwh=Decimal("0.2"), battery_wh=10_000, reserve_wh=1_000,
                                       start_date=date(2021, 9, 1)),
                     moves=(Move(effective_date=date(2022, 2, 1), municipality_id="reedley"),))
    ctx = EscrowContext(settings=None, registry=Registry(municipalities=(fowler, reedley), residents=(moved,)),
                        engine=None, signing_key=None)
    assert ctx.program_start(fowler) == datetime(2021, 9, 1, 7, tzinfo=UTC)  # PDT
    assert ctx.program_start(reedley) == datetime(2022, 2, 1, 8, tzinfo=UTC)  # PST
