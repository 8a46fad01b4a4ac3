"""Billing's pure rules: tariff, rounding, invoice composition, schedule, statement, payment parsing."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from energychain_billing.domain.invoice import compose_invoice, draft_invoice, unpaid_by_invoice
from energychain_billing.domain.payments import InvalidPayment, parse_amount_cents, parse_method, request_fingerprint
from energychain_billing.domain.periods import BillingPeriod, period_of
from energychain_billing.domain.schedule import BoundaryWatch, Schedule
from energychain_billing.domain.statement import IssuedInvoice, statement
from energychain_billing.domain.tariff import Segment, Tariff, billed_wh, energy_amount_cents, round_cents

pytestmark = pytest.mark.unit
LA = ZoneInfo("America/Los_Angeles")
UTC = timezone.utc


def tariff(**overrides) -> Tariff:
    values = dict(
        rate_usd_per_kwh=Decimal("0.23"), escalator_percent=Decimal("2"), start_date=date(2021, 6, 27), zone=LA
    )
    values.update(overrides)
    return Tariff(**values)


def test_rate_escalates_two_percent_per_contract_year_rounded_to_micro_dollars():
    assert [tariff().rate_for_year(n) for n in (1, 2, 3)] == [
        Decimal("0.230000"), Decimal("0.234600"), Decimal("0.239292")
    ]


def test_contract_year_turns_at_local_midnight_of_the_anniversary():
    anniversary = datetime(2022, 6, 27, 7, tzinfo=UTC)  # local midnight, daylight time
    assert tariff().contract_year(anniversary - timedelta(hours=1)) == 1
    assert tariff().contract_year(anniversary) == 2


def test_hours_before_the_contract_start_bill_in_year_one():
    assert tariff().contract_year(datetime(2021, 1, 1, tzinfo=UTC)) == 1


def test_delivered_basis_bills_home_consumption_less_grid_import_never_negative():
    assert billed_wh(home_wh=1500, grid_import_wh=400, basis="delivered") == 1100
    assert billed_wh(home_wh=300, grid_import_wh=400, basis="delivered") == 0


def test_all_consumption_basis_bills_every_home_watt_hour_as_the_prototype_did():
    assert billed_wh(home_wh=1500, grid_import_wh=400, basis="all_consumption") == 1500


def test_amounts_round_half_up_to_the_cent():
    assert energy_amount_cents(2500, Decimal("0.23")) == 58  # 57.5 cents
    assert energy_amount_cents(2499, Decimal("0.23")) == 57  # 57.477
    assert round_cents(Decimal("-0.005")) == -1  # ties away from zero


def test_invoice_lines_are_numbered_balance_forward_first_and_trade_credit_last():
    draft = compose_invoice(charges=[], trade_credit_cents=120, balance_forward_cents=500)
    assert [(line.number, line.kind, line.amount_cents) for line in draft.lines] == [
        (1, "balance_forward", 500), (2, "trade_credit", -120)
    ]
    assert draft.total_cents == 380 and draft.own_charges_cents == -120 and draft.new_charges_cents == 0


def test_a_month_across_the_anniversary_has_one_energy_line_per_contract_year_each_rounded():
    draft = draft_invoice(
        tariff=tariff(), period_wh={Segment(1): 2500, Segment(2): 1000}, late_wh={}, refill_wh={},
        trade_credit_cents=0, balance_forward_cents=0,
    )
    assert [(line.kind, line.rate_usd_per_kwh, line.amount_cents) for line in draft.lines] == [
        ("ppa_energy", Decimal("0.230000"), 58), ("ppa_energy", Decimal("0.234600"), 23)
    ]


def test_late_readings_and_reserve_refills_are_their_own_lines_posted_as_new_charges():
    draft = draft_invoice(
        tariff=tariff(), period_wh={Segment(1): 1000}, late_wh={Segment(1): 2000}, refill_wh={Segment(1): 3000},
        trade_credit_cents=40, balance_forward_cents=100,
    )
    assert [line.kind for line in draft.lines] == [
        "balance_forward", "ppa_energy", "reserve_refill", "late_adjustment", "trade_credit"
    ]
    assert draft.new_charges_cents == 23 + 69 + 46
    assert draft.total_cents == 100 + 23 + 69 + 46 - 40


def test_zero_energy_makes_no_line():
    draft = draft_invoice(
        tariff=tariff(), period_wh={Segment(1): 0}, late_wh={}, refill_wh={},
        trade_credit_cents=0, balance_forward_cents=0,
    )
    assert draft.lines == ()


def test_payments_and_credits_pay_the_oldest_invoice_first():
    assert unpaid_by_invoice([("a", 100), ("b", 100), ("c", -30)], paid_cents=120) == {"a": 0, "b": 50, "c": 0}


def test_billing_periods_are_local_calendar_months():
    september = period_of(datetime(2021, 10, 1, 6, 59, tzinfo=UTC), LA)  # 23:59 local on 30 September
    assert september.label == "2021-09"
    assert september.end == datetime(2021, 10, 1, 7, tzinfo=UTC)
    assert BillingPeriod(2021, 11, LA).end - BillingPeriod(2021, 11, LA).start == timedelta(days=30, hours=1)


def test_a_period_closes_after_the_grace_and_falls_due_twenty_one_days_after_issue():
    schedule = Schedule(zone=LA, grace=timedelta(hours=48), due_days=21)
    september = BillingPeriod(2021, 9, LA)
    assert schedule.issued_at(september) == datetime(2021, 10, 3, 7, tzinfo=UTC)
    assert schedule.due_at(september) == datetime(2021, 10, 24, 7, tzinfo=UTC)
    assert schedule.periods_closing(datetime(2021, 10, 3, 6, tzinfo=UTC), datetime(2021, 10, 3, 7, tzinfo=UTC)) == [
        september
    ]
    assert schedule.periods_closing(datetime(2021, 10, 3, 7, tzinfo=UTC), datetime(2021, 11, 1, tzinfo=UTC)) == []


def test_a_clock_step_crosses_a_boundary_only_at_a_close_or_a_due_date():
    schedule = Schedule(zone=LA, grace=timedelta(hours=48), due_days=21)
    assert schedule.crosses_boundary(datetime(2021, 10, 24, 6, tzinfo=UTC), datetime(2021, 10, 24, 7, tzinfo=UTC))
    assert not schedule.crosses_boundary(datetime(2021, 10, 10, tzinfo=UTC), datetime(2021, 10, 20, tzinfo=UTC))


def _crosses_by_definition(schedule: Schedule, after: datetime, upto: datetime) -> bool:
    """A close in (after, upto], or a due date there: its period closed due_days earlier."""
    shift = timedelta(days=schedule.due_days)
    return bool(schedule.periods_closing(after, upto) or schedule.periods_closing(after - shift, upto - shift))


def test_the_boundary_watch_agrees_with_the_calendar_over_a_year_of_clock_steps():
    rng = random.Random(7)
    calendars = [Schedule(zone=LA, grace=timedelta(hours=48), due_days=21),
                 Schedule(zone=ZoneInfo("America/New_York"), grace=timedelta(hours=6), due_days=10)]
    watch = BoundaryWatch(calendars)
    clocks = [datetime(2021, 6, 27, 7, tzinfo=UTC)] * 3  # three partitions, each its own watermark
    crossings = 0
    for _ in range(12_000):
        which = rng.randrange(3)
        step = timedelta(hours=rng.choice([1, 1, 1, 2, 5, 30, 400]))
        after, upto = clocks[which], clocks[which] + step
        expected = any(_crosses_by_definition(c, after, upto) for c in calendars)
        assert watch.crosses_boundary(after, upto) == expected, (after, upto)
        assert any(c.crosses_boundary(after, upto) for c in calendars) == expected, (after, upto)
        crossings += expected
        clocks[which] = upto
    assert crossings > 50  # every close and due date of both calendars was met, on three clocks


def test_statement_balance_subtracts_payments_and_credits_not_yet_invoiced_and_flags_past_due():
    due = datetime(2021, 10, 24, 7, tzinfo=UTC)
    invoices = [IssuedInvoice("a", 58, due), IssuedInvoice("b", 23, due + timedelta(days=31))]
    position = statement(invoices, paid_cents=30, uninvoiced_credit_cents=5, now=due)
    assert position.balance_cents == 58 + 23 - 30 - 5
    assert position.past_due_cents == 28 and position.past_due
    assert [s.status for s in position.invoices] == ["past_due", "open"]


@pytest.mark.parametrize(
    ("amount", "cents"), [("12.34", 1234), ("12", 1200), ("0.5", 50), (" 7.00 ", 700)]
)
def test_payment_amounts_are_dollar_strings_with_at_most_two_decimals(amount, cents):
    assert parse_amount_cents(amount) == cents


@pytest.mark.parametrize("amount", ["-1", "0", "0.00", "1.234", "abc", "", "1e3", 12, 1.5, None])
def test_payment_amounts_that_are_not_positive_exact_dollars_are_refused_naming_the_amount(amount):
    with pytest.raises(InvalidPayment) as refused:
        parse_amount_cents(amount)
    assert refused.value.field == "amount"


def test_payment_methods_are_the_prototypes_four_rails():
    assert [parse_method(m) for m in ("card", "venmo", "zelle", "ach")] == ["card", "venmo", "zelle", "ach"]
    with pytest.raises(InvalidPayment):
        parse_method("cash")


def test_the_same_key_with_another_amount_is_another_request():
    one = request_fingerprint(amount_cents=100, method="card", invoice_id=None)
    assert one == request_fingerprint(amount_cents=100, method="card", invoice_id=None)
    assert one != request_fingerprint(amount_cents=101, method="card", invoice_id=None)


def test_a_contract_ending_mid_month_has_a_final_period_up_to_its_end_and_none_after():
    schedule = Schedule(zone=LA, grace=timedelta(hours=48), due_days=21)
    ends = datetime(2022, 7, 25, 7, tzinfo=UTC)  # the day after 24 July 2022, local midnight
    closing = schedule.periods_closing(datetime(2022, 6, 5, tzinfo=UTC), datetime(2023, 1, 1, tzinfo=UTC), ends=ends)
    assert [(p.label, p.end) for p in closing] == [("2022-06", datetime(2022, 7, 1, 7, tzinfo=UTC)), ("2022-07", ends)]
    assert schedule.issued_at(closing[-1]) == ends + timedelta(hours=48)
    assert schedule.final_boundaries(ends) == (ends + timedelta(hours=48), ends + timedelta(hours=48, days=21))
    # Before the grace has passed the final period is not closing yet.
    assert schedule.periods_closing(datetime(2022, 7, 20, tzinfo=UTC), ends + timedelta(hours=47), ends=ends) == []


def test_a_contract_ending_on_a_months_last_day_closes_that_whole_month_last():
    schedule = Schedule(zone=LA, grace=timedelta(hours=48), due_days=21)
    ends = datetime(2022, 8, 1, 7, tzinfo=UTC)
    closing = schedule.periods_closing(datetime(2022, 7, 5, tzinfo=UTC), datetime(2023, 1, 1, tzinfo=UTC), ends=ends)
    assert [(p.label, p.until) for p in closing] == [("2022-07", None)]


def test_the_boundary_watch_stops_at_an_ended_contracts_final_close():
    schedule = Schedule(zone=LA, grace=timedelta(hours=48), due_days=21)
    final_close = datetime(2022, 7, 27, 7, tzinfo=UTC)
    assert not BoundaryWatch([schedule]).crosses_boundary(datetime(2022, 7, 26, tzinfo=UTC), datetime(2022, 7, 28, tzinfo=UTC))
    assert BoundaryWatch([schedule], [final_close]).crosses_boundary(datetime(2022, 7, 26, tzinfo=UTC),
                                                                     datetime(2022, 7, 28, tzinfo=UTC))


def test_a_move_out_recorded_after_its_final_close_passed_is_still_closing_once_asked():
    schedule = Schedule(zone=LA, grace=timedelta(hours=48), due_days=21)
    ends = datetime(2022, 7, 24, 7, tzinfo=UTC)  # last day 23 July; its close 26 July, passed by the 31st
    late = schedule.periods_closing(datetime(2022, 7, 31, 7, tzinfo=UTC), datetime(2022, 7, 31, 8, tzinfo=UTC), ends=ends)
    assert [(p.label, p.end) for p in late] == [("2022-07", ends)]
    assert schedule.periods_closing(datetime(2022, 7, 31, 7, tzinfo=UTC), datetime(2022, 7, 31, 7, tzinfo=UTC),
                                    ends=ends) == []  # no step, nothing


def test_the_boundary_watch_tells_a_final_close_the_clock_passed_before_it_was_known():
    schedule = Schedule(zone=LA, grace=timedelta(hours=48), due_days=21)
    passed = datetime(2022, 7, 26, 7, tzinfo=UTC)
    watch = BoundaryWatch([schedule], [passed])
    step = (datetime(2022, 7, 31, 7, tzinfo=UTC), datetime(2022, 7, 31, 8, tzinfo=UTC))
    assert not watch.crosses_boundary(*step) and watch.passed_by(step[0])
    assert not watch.passed_by(passed - timedelta(hours=1)) and not BoundaryWatch([schedule]).passed_by(step[0])


def test_an_amended_period_has_one_line_per_terms_each_at_its_rate_and_named_by_its_date():
    from datetime import datetime, timezone

    from energychain_billing.domain.tariff import Amendment

    base = tariff()
    starts = datetime(2021, 9, 15, 7, tzinfo=timezone.utc)
    terms = Tariff(rate_usd_per_kwh=base.rate_usd_per_kwh, escalator_percent=base.escalator_percent,
                   start_date=base.start_date, zone=base.zone, basis=base.basis,
                   amendments=(Amendment(date(2021, 9, 15), starts, Decimal("0.19"), Decimal("2"), "all_consumption"),))
    draft = draft_invoice(tariff=terms, period_wh={Segment(1, 1): 2000, Segment(1, 0): 1000}, late_wh={},
                          refill_wh={}, trade_credit_cents=0, balance_forward_cents=0)
    assert [(line.description, line.rate_usd_per_kwh, line.amount_cents) for line in draft.lines] == [
        ("PPA energy delivered (contract year 1)", terms.rate_for_year(1), energy_amount_cents(1000, terms.rate_for_year(1))),
        ("PPA energy, all home consumption (contract year 1, terms from 2021-09-15)", Decimal("0.190000"), 38),
    ]
