"""Settlement arithmetic against the meter, and the price model and price file."""

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from energychain_market.domain.calendar import day_ahead_publication, gate_closure
from energychain_market.domain.money import fee_cents, proceeds_cents
from energychain_market.domain.prices import DuckCurvePriceModel, PriceFileError, parse_price_csv
from energychain_market.domain.settlement import settle

pytestmark = pytest.mark.unit


def test_full_delivery_credits_proceeds_less_ten_percent_fee_and_refills_the_delivered_energy():
    figures = settle(cleared_wh=2500, metered_discharge_wh=3100, price_usd_per_mwh=Decimal("300"), fee_percent=Decimal(10))
    # 2.5 kWh x $0.30 = $0.75
    assert (figures.delivered_wh, figures.proceeds_cents, figures.fee_cents, figures.credit_cents) == (2500, 75, 8, 67)
    assert figures.refill_wh == 2500
    assert figures.shortfall_reason is None


def test_partial_delivery_is_capped_at_the_metered_discharge_and_says_why():
    figures = settle(cleared_wh=3000, metered_discharge_wh=1240, price_usd_per_mwh=Decimal("252.81"), fee_percent=Decimal(10))
    # 1.24 kWh x $0.25281 = $0.3134844 -> 31 cents; fee 3.1 -> 3
    assert (figures.delivered_wh, figures.proceeds_cents, figures.fee_cents, figures.credit_cents) == (1240, 31, 3, 28)
    assert figures.refill_wh == 1240
    assert figures.shortfall_reason.startswith("partial_delivery")


def test_no_discharge_or_no_reading_delivers_nothing_and_records_the_reason():
    none = settle(cleared_wh=500, metered_discharge_wh=0, price_usd_per_mwh=Decimal("300"), fee_percent=Decimal(10))
    assert (none.delivered_wh, none.credit_cents, none.refill_wh) == (0, 0, 0)
    assert none.shortfall_reason.startswith("no_battery_discharge")
    missing = settle(cleared_wh=500, metered_discharge_wh=None, price_usd_per_mwh=Decimal("300"), fee_percent=Decimal(10))
    assert missing.shortfall_reason.startswith("no_meter_reading")


def test_proceeds_and_fee_round_half_up_to_the_cent():
    # 500 Wh at $1 /MWh = 0.05 cents -> 0; at $10/MWh = 0.5 cents -> 1 (half-up)
    assert proceeds_cents(500, Decimal("1")) == 0
    assert proceeds_cents(500, Decimal("10")) == 1
    assert fee_cents(5, Decimal(10)) == 1  # 0.5 -> 1
    assert fee_cents(4, Decimal(10)) == 0


def test_price_model_is_deterministic_from_the_seed_and_differs_between_seeds():
    day = date(2021, 8, 10)
    assert DuckCurvePriceModel(seed=7).prices_for_day(day) == DuckCurvePriceModel(seed=7).prices_for_day(day)
    assert DuckCurvePriceModel(seed=7).prices_for_day(day) != DuckCurvePriceModel(seed=8).prices_for_day(day)


def test_price_model_has_a_duck_curve_with_a_summer_evening_peak_and_cent_precision():
    model = DuckCurvePriceModel(seed=2021)
    prices = list(model.prices_for_day(date(2021, 8, 10)).values())
    assert len(prices) == 24
    assert min(prices[10:15]) < prices[0] < max(prices[17:22])
    assert all(p == p.quantize(Decimal("0.01")) for p in prices)
    winter = list(model.prices_for_day(date(2022, 1, 10)).values())
    assert max(prices[17:22]) > 2 * max(winter[17:22])


def test_price_model_has_occasional_spikes_and_daylight_saving_days_have_23_and_25_hours():
    model = DuckCurvePriceModel(seed=2021)
    days = [date(2021, 7, 1).fromordinal(date(2021, 7, 1).toordinal() + i) for i in range(365)]
    spike_days = [d for d in days if max(model.prices_for_day(d).values()) >= 500]
    assert 5 <= len(spike_days) <= 60
    assert len(model.prices_for_day(date(2022, 3, 13))) == 23
    assert len(model.prices_for_day(date(2021, 11, 7))) == 25


def test_price_csv_parses_utc_hours_and_decimal_prices():
    prices = parse_price_csv(
        ["hour_start_utc,price_usd_per_mwh", "2021-08-11T02:00:00Z,252.81", "2021-08-11T03:00:00+00:00,-3.5", ""]
    )
    assert prices == {
        datetime(2021, 8, 11, 2, tzinfo=timezone.utc): Decimal("252.81"),
        datetime(2021, 8, 11, 3, tzinfo=timezone.utc): Decimal("-3.5"),
    }


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["hour,price"], "header"),
        (["hour_start_utc,price_usd_per_mwh", "2021-08-11T02:00:00,1"], "needs an offset"),
        (["hour_start_utc,price_usd_per_mwh", "2021-08-11T02:30:00Z,1"], "not on the hour"),
        (["hour_start_utc,price_usd_per_mwh", "2021-08-11T02:00:00Z,abc"], "not a number"),
        (["hour_start_utc,price_usd_per_mwh", "2021-08-11T02:00:00Z,1", "2021-08-11T02:00:00Z,2"], "duplicate"),
    ],
)
def test_price_csv_errors_name_the_line_and_the_problem(rows, message):
    with pytest.raises(PriceFileError, match=message):
        parse_price_csv(rows, source="p.csv")


def test_day_ahead_prices_publish_at_noon_before_and_the_gate_closes_at_local_midnight():
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("America/Los_Angeles")
    assert day_ahead_publication(date(2021, 8, 11), zone) == datetime(2021, 8, 10, 19, tzinfo=timezone.utc)
    assert gate_closure(date(2021, 8, 11), zone) == datetime(2021, 8, 11, 7, tzinfo=timezone.utc)
