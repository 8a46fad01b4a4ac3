"""Placement, aggregation and one-sided pay-as-clear clearing of a delivery day."""

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from energychain_market.domain.calendar import hours_of_local_day
from energychain_market.domain.clearing import (
    BELOW_MINIMUM_AGGREGATE,
    NO_HOUR_MEETS_MINIMUM,
    NO_PRICE,
    MarketOffer,
    OneSidedPayAsClear,
    Order,
    allocate,
    clear_day,
    place_offer,
)

pytestmark = pytest.mark.unit

ZONE = ZoneInfo("America/Los_Angeles")
DAY = date(2021, 8, 10)
HOURS = hours_of_local_day(DAY, ZONE)


def _prices(**overrides: str) -> dict[datetime, Decimal]:
    """Flat $50/MWh day with chosen local hours overridden (key h17 -> 17:00 local)."""
    prices = {hour: Decimal("50") for hour in HOURS}
    for key, value in overrides.items():
        local = int(key.removeprefix("h"))
        prices[HOURS[local]] = Decimal(value)
    return prices


def _offer(offer_id: str, energy_wh: int = 1000, min_price: str = "0.23", house: str = "house-01") -> MarketOffer:
    return MarketOffer(offer_id, house, energy_wh, Decimal(min_price), HOURS)


def _order_id(hour: datetime) -> str:
    return f"bid-{hour:%H}"


def test_offer_goes_to_the_highest_priced_hour_that_meets_its_minimum():
    placement = place_offer(_offer("o1"), _prices(h18="240", h19="300", h20="260"))
    assert placement.hour == HOURS[19]


def test_tie_between_two_hours_with_the_same_price_goes_to_the_earliest_hour():
    placement = place_offer(_offer("o1"), _prices(h20="300", h18="300"))
    assert placement.hour == HOURS[18]


def test_offer_at_exactly_the_hour_price_is_placed_after_exact_unit_conversion():
    # $0.23/kWh is exactly $230/MWh: equal meets the minimum.
    placement = place_offer(_offer("o1", min_price="0.23"), _prices(h19="230.00"))
    assert placement.hour == HOURS[19]


def test_offer_one_hundredth_of_a_cent_above_the_price_is_not_placed():
    placement = place_offer(_offer("o1", min_price="0.230001"), _prices(h19="230.00"))
    assert placement.hour is None
    assert placement.reason == NO_HOUR_MEETS_MINIMUM


def test_offer_without_any_price_for_its_day_is_unsold_with_no_price():
    placement = place_offer(_offer("o1"), {})
    assert (placement.hour, placement.reason) == (None, NO_PRICE)


def test_offers_in_the_same_hour_aggregate_into_one_bid_and_clear_at_the_hour_price():
    offers = [_offer("a", 500), _offer("b", 1250, house="house-02"), _offer("c", 750, "0.25", house="house-03")]
    day = clear_day(offers, _prices(h19="300"), mechanism=OneSidedPayAsClear(), order_id_for=_order_id)
    assert len(day.orders) == 1
    order = day.orders[0]
    assert (order.hour, order.energy_wh, order.member_ids) == (HOURS[19], 2500, ("a", "b", "c"))
    assert order.limit_price_usd_per_mwh == Decimal("250")
    assert all(o.cleared and o.price_usd_per_mwh == Decimal("300") for o in day.offer_outcomes)
    assert {o.offer_id: o.cleared_wh for o in day.offer_outcomes} == {"a": 500, "b": 1250, "c": 750}


def test_empty_hours_produce_no_bid_and_an_empty_day_produces_nothing():
    day = clear_day([_offer("a")], _prices(h19="300"), mechanism=OneSidedPayAsClear(), order_id_for=_order_id)
    assert [o.hour for o in day.orders] == [HOURS[19]]
    empty = clear_day([], _prices(h19="300"), mechanism=OneSidedPayAsClear(), order_id_for=_order_id)
    assert (empty.orders, empty.result.outcomes, empty.offer_outcomes) == ((), (), ())


def test_every_placed_offer_goes_to_the_days_peak_and_an_offer_above_the_peak_is_unsold():
    offers = [_offer("cheap", min_price="0.31"), _offer("dear", min_price="0.46")]
    day = clear_day(offers, _prices(h18="300", h19="450"), mechanism=OneSidedPayAsClear(), order_id_for=_order_id)
    by_id = {o.offer_id: o for o in day.offer_outcomes}
    assert (by_id["cheap"].cleared, by_id["cheap"].hour) == (True, HOURS[19])
    assert (by_id["dear"].cleared, by_id["dear"].reason) == (False, NO_HOUR_MEETS_MINIMUM)
    assert "450" in by_id["dear"].detail and "460" in by_id["dear"].detail


def test_aggregate_just_below_the_minimum_size_clears_nothing_and_each_offer_is_told_why():
    offers = [_offer("a", 1000), _offer("b", 1499, house="house-02")]
    day = clear_day(offers, _prices(h19="300"), mechanism=OneSidedPayAsClear(min_aggregate_wh=2500),
                    order_id_for=_order_id)
    assert day.result.accepted == ()
    assert all(not o.cleared and o.reason == BELOW_MINIMUM_AGGREGATE for o in day.offer_outcomes)
    assert all("2499 Wh" in o.detail and "2500 Wh" in o.detail for o in day.offer_outcomes)


def test_aggregate_exactly_at_the_minimum_size_clears():
    offers = [_offer("a", 1000), _offer("b", 1500, house="house-02")]
    day = clear_day(offers, _prices(h19="300"), mechanism=OneSidedPayAsClear(min_aggregate_wh=2500),
                    order_id_for=_order_id)
    assert [o.accepted_wh for o in day.result.accepted] == [2500]
    assert all(o.cleared for o in day.offer_outcomes)


def test_default_minimum_aggregate_of_zero_clears_a_single_small_offer():
    day = clear_day([_offer("a", 1)], _prices(h19="300"), mechanism=OneSidedPayAsClear(), order_id_for=_order_id)
    assert day.offer_outcomes[0].cleared_wh == 1


def test_one_sided_mechanism_rejects_buy_orders_and_orders_whose_limit_exceeds_the_price():
    hour = HOURS[19]
    orders = [
        Order("buy", hour, "buy", 100, Decimal("10")),
        Order("limit", hour, "sell", 100, Decimal("301")),
    ]
    result = OneSidedPayAsClear().clear(orders, {hour: Decimal("300")})
    assert [(o.order.order_id, o.accepted_wh, o.reason) for o in result.outcomes] == [
        ("buy", 0, "unsupported_side"),
        ("limit", 0, "price_below_limit"),
    ]


def test_pro_rata_allocation_of_a_partial_acceptance_sums_exactly_and_is_deterministic():
    shares = allocate(1000, [("b", 1000), ("a", 1000), ("c", 1000)])
    assert sum(shares.values()) == 1000
    assert shares == {"a": 334, "b": 333, "c": 333}
    assert allocate(5000, [("a", 1000), ("b", 2000)]) == {"a": 1000, "b": 2000}


def test_clearing_covers_the_25_hours_of_a_fall_back_day():
    day = date(2021, 11, 7)
    hours = hours_of_local_day(day, ZONE)
    assert len(hours) == 25
    prices = {h: Decimal("40") for h in hours}
    prices[hours[1]] = prices[hours[2]] = Decimal("400")  # 01:00 PDT and 01:00 PST
    offer = MarketOffer("o", "house-01", 500, Decimal("0.3"), hours)
    assert place_offer(offer, prices).hour == hours[1] == datetime(2021, 11, 7, 8, tzinfo=timezone.utc)
    assert hours[2] - hours[1] == timedelta(hours=1)
