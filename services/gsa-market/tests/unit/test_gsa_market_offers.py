"""The resident's offer rules and the cancellation rule."""

from datetime import date, datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from energychain_shared.rules import contract_year
from energychain_market.domain.offers import (
    OfferConflict,
    OfferRefused,
    OfferRequest,
    OfferStatus,
    ResidentTerms,
    current_rate,
    ensure_cancellable,
    validate_offer,
)

pytestmark = pytest.mark.unit

TERMS = ResidentTerms(
    house_id="house-02",
    municipality_id="parlier",
    zone=ZoneInfo("America/Los_Angeles"),
    reserve_wh=2500,
    rate_usd_per_kwh=Decimal("0.23"),
    escalator_percent=Decimal("2"),
    contract_start=date(2021, 7, 18),
)
# 2021-08-10 10:00 local (PDT)
NOW = datetime(2021, 8, 10, 17, tzinfo=timezone.utc)


def _validate(percent=50, day=date(2021, 8, 11), price="0.30", now=NOW, **kwargs):
    return validate_offer(
        OfferRequest(percent, day, Decimal(price)),
        terms=TERMS,
        now=now,
        max_price_usd_per_kwh=Decimal("1.00"),
        **kwargs,
    )


def _refusal(**kwargs) -> OfferRefused:
    with pytest.raises(OfferRefused) as caught:
        _validate(**kwargs)
    return caught.value


@pytest.mark.parametrize(("percent", "energy"), [(25, 625), (50, 1250), (75, 1875), (100, 2500)])
def test_offer_is_a_quarter_half_three_quarters_or_all_of_the_reserve(percent, energy):
    assert _validate(percent=percent).energy_wh == energy


@pytest.mark.parametrize("percent", [0, 10, 60, 101])
def test_other_reserve_percentages_are_refused_naming_the_field(percent):
    refusal = _refusal(percent=percent)
    assert (refusal.rule, refusal.field) == ("reserve_percent_allowed", "reserve_percent")
    assert not isinstance(refusal, OfferConflict)


def test_delivery_day_must_be_after_the_current_simulated_local_day():
    assert _refusal(day=date(2021, 8, 10)).rule == "delivery_day_after_today"
    assert _refusal(day=date(2021, 8, 9)).field == "delivery_day"
    # 2021-08-11 03:00 UTC is still 2021-08-10 local: the 11th is tomorrow there.
    assert _validate(now=datetime(2021, 8, 11, 3, tzinfo=timezone.utc)).delivery_day == date(2021, 8, 11)


def test_gate_closes_hours_before_the_delivery_day_when_configured():
    late = datetime(2021, 8, 11, 5, tzinfo=timezone.utc)  # 22:00 local on the 10th
    assert _refusal(now=late, gate_closure_hours_before=3).rule == "gate_closed"
    assert _validate(now=late, gate_closure_hours_before=1).energy_wh == 1250


def test_minimum_price_must_be_at_least_the_current_ppa_rate():
    assert _validate(price="0.23").min_price_usd_per_kwh == Decimal("0.23")
    refusal = _refusal(price="0.229999")
    assert (refusal.rule, refusal.field) == ("min_price_at_least_ppa_rate", "min_price_usd_per_kwh")


def test_minimum_price_floor_follows_the_escalator_in_later_contract_years():
    second_year = datetime(2022, 7, 20, 17, tzinfo=timezone.utc)
    assert current_rate(TERMS, second_year) == Decimal("0.2346")
    assert _refusal(now=second_year, day=date(2022, 7, 21), price="0.2345").rule == "min_price_at_least_ppa_rate"
    assert _validate(now=second_year, day=date(2022, 7, 21), price="0.2346").current_rate_usd_per_kwh == Decimal(
        "0.2346"
    )


def test_the_floor_in_a_later_contract_year_is_the_rate_billed_to_six_decimals_so_it_can_be_offered():
    fifth_year = datetime(2025, 7, 20, 17, tzinfo=timezone.utc)  # 0.23 x 1.02^4 = 0.248959...68
    assert current_rate(TERMS, fifth_year) == Decimal("0.248959")
    assert _validate(now=fifth_year, day=date(2025, 7, 21), price="0.248959").min_price_usd_per_kwh == Decimal(
        "0.248959"
    )
    assert _refusal(now=fifth_year, day=date(2025, 7, 21), price="0.248958").rule == "min_price_at_least_ppa_rate"


def test_minimum_price_must_be_at_most_one_dollar_per_kwh():
    assert _validate(price="1.00").min_price_usd_per_kwh == Decimal("1.00")
    assert _refusal(price="1.000001").rule == "min_price_at_most_maximum"


def test_minimum_price_with_more_than_six_decimals_is_refused():
    assert _refusal(price="0.3000001").rule == "min_price_precision"


def test_offer_before_the_clock_started_is_a_conflict():
    refusal = _refusal(now=None)
    assert refusal.rule == "clock_started" and isinstance(refusal, OfferConflict)


def test_second_open_offer_for_the_same_day_is_a_conflict():
    refusal = _refusal(has_open_offer_for_day=True)
    assert refusal.rule == "one_open_offer_per_day" and isinstance(refusal, OfferConflict)


def test_only_open_offers_can_be_cancelled_cancel_after_clearing_is_a_conflict():
    ensure_cancellable(OfferStatus.OPEN, offer_id="o")
    for status in (OfferStatus.CLEARED, OfferStatus.SETTLED, OfferStatus.UNSOLD, OfferStatus.CANCELLED):
        with pytest.raises(OfferConflict) as caught:
            ensure_cancellable(status, offer_id="o")
        assert caught.value.rule == "cancel_only_open_offers"


def test_contract_year_turns_on_the_anniversary_including_leap_day_starts():
    assert contract_year(date(2021, 7, 18), date(2022, 7, 17)) == 1
    assert contract_year(date(2021, 7, 18), date(2022, 7, 18)) == 2
    assert contract_year(date(2020, 2, 29), date(2021, 2, 28)) == 2
    assert contract_year(date(2021, 7, 18), date(2021, 1, 1)) == 1
