"""Billed energy from stored hours: the domain functions the period close and the usage views run."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from energychain_billing.domain.energy import MeteredHour, unbilled_energy_by_segment, usage_buckets
from energychain_billing.domain.periods import BillingPeriod
from energychain_billing.domain.tariff import Amendment, Segment, Tariff

pytestmark = pytest.mark.unit
UTC = timezone.utc
ZONE = ZoneInfo("America/Los_Angeles")


def tariff(start: date, basis: str = "delivered") -> Tariff:
    return Tariff(rate_usd_per_kwh=Decimal("0.23"), escalator_percent=Decimal("2"), start_date=start, zone=ZONE,
                  basis=basis)


def hour(start: datetime, *, home: int, imported: int, solar: int = 0) -> MeteredHour:
    return MeteredHour(start, home, solar, imported, 0, 0, max(0, home - imported))


def test_unbilled_energy_bills_delivered_energy_and_sets_earlier_hours_apart_as_late():
    period = BillingPeriod(2021, 9, ZONE)
    hours = [
        hour(datetime(2021, 9, 10, 17, tzinfo=UTC), home=2000, imported=500),  # 1,500 delivered
        hour(datetime(2021, 9, 20, 17, tzinfo=UTC), home=300, imported=400),  # more imported than used: 0
        hour(datetime(2021, 8, 25, 17, tzinfo=UTC), home=3000, imported=1000),  # August, arrived late: 2,000
    ]
    current, late = unbilled_energy_by_segment(tariff(date(2021, 6, 1)), period, hours)
    assert current == {Segment(1): 1500}
    assert late == {Segment(1): 2000}


def test_unbilled_energy_all_consumption_bills_the_whole_home_use():
    period = BillingPeriod(2021, 9, ZONE)
    hours = [hour(datetime(2021, 9, 10, 17, tzinfo=UTC), home=2000, imported=500)]
    assert unbilled_energy_by_segment(tariff(date(2021, 6, 1), "all_consumption"), period, hours) == ({Segment(1): 2000}, {})


def test_an_hour_with_nothing_billed_still_makes_its_contract_year_appear():
    period = BillingPeriod(2021, 9, ZONE)
    hours = [hour(datetime(2021, 9, 10, 17, tzinfo=UTC), home=100, imported=100)]
    assert unbilled_energy_by_segment(tariff(date(2021, 6, 1)), period, hours) == ({Segment(1): 0}, {})


def test_a_month_spanning_the_anniversary_splits_at_local_midnight():
    # Contract from 15 June 2021: year 2 begins at local midnight of 15 June 2022 (07:00 UTC, daylight time).
    period = BillingPeriod(2022, 6, ZONE)
    hours = [
        hour(datetime(2022, 6, 15, 6, tzinfo=UTC), home=1000, imported=0),  # 23:00 on the 14th, local: year 1
        hour(datetime(2022, 6, 15, 7, tzinfo=UTC), home=2000, imported=0),  # 00:00 on the 15th: year 2
    ]
    assert unbilled_energy_by_segment(tariff(date(2021, 6, 15)), period, hours) == ({Segment(1): 1000, Segment(2): 2000}, {})


@pytest.mark.parametrize("start", [date(2020, 2, 29), date(2021, 3, 14), date(2021, 11, 7), date(2022, 1, 1)])
def test_the_close_assigns_every_hour_the_contract_year_of_the_tariff_rule(start):
    """Hour by hour over three years (DST changes, a 29 February start): the same year as Tariff.contract_year."""
    terms = tariff(start)
    first = datetime(start.year, 1, 1, tzinfo=UTC)
    for offset in range(0, 3 * 366 * 24, 7):  # every 7th hour: all hours of day and weekdays over the years
        instant = first + timedelta(hours=offset)
        period = BillingPeriod(2030, 1, ZONE)  # after every hour: all of them late, one contract year each
        _, late = unbilled_energy_by_segment(terms, period, [hour(instant, home=1, imported=0)])
        assert late == {Segment(terms.contract_year(instant)): 1}, instant


def test_usage_buckets_sum_local_days_and_months_with_the_billed_energy():
    terms = tariff(date(2021, 6, 1))
    hours = [
        hour(datetime(2021, 9, 1, 6, tzinfo=UTC), home=100, imported=40, solar=5),  # 23:00 on 31 August, local
        hour(datetime(2021, 9, 1, 7, tzinfo=UTC), home=200, imported=50, solar=7),  # 00:00 on 1 September
        hour(datetime(2021, 9, 2, 6, tzinfo=UTC), home=300, imported=400),  # 23:00 on 1 September
    ]
    days = usage_buckets(terms, hours, "day")
    assert [(b.start, b.home_wh, b.solar_wh, b.grid_import_wh, b.billed_wh) for b in days] == [
        (datetime(2021, 8, 31, 7, tzinfo=UTC), 100, 5, 40, 60),
        (datetime(2021, 9, 1, 7, tzinfo=UTC), 500, 7, 450, 150),
    ]
    months = usage_buckets(terms, hours, "month")
    assert [(b.start, b.home_wh, b.billed_wh) for b in months] == [
        (datetime(2021, 8, 1, 7, tzinfo=UTC), 100, 60), (datetime(2021, 9, 1, 7, tzinfo=UTC), 500, 150),
    ]
    assert [b.start for b in usage_buckets(terms, hours, "hour")] == [h.interval_start for h in hours]


def amended(start: date, effective: date, *, rate: str, escalator: str = "2", basis: str = "delivered") -> Tariff:
    base = tariff(start)
    starts = datetime.combine(effective, datetime.min.time(), tzinfo=ZONE).astimezone(UTC)
    return Tariff(rate_usd_per_kwh=base.rate_usd_per_kwh, escalator_percent=base.escalator_percent,
                  start_date=start, zone=ZONE, basis=base.basis,
                  amendments=(Amendment(effective, starts, Decimal(rate), Decimal(escalator), basis),))


def test_an_amendment_splits_the_period_at_its_local_midnight():
    terms = amended(date(2021, 6, 1), date(2021, 9, 15), rate="0.19")
    period = BillingPeriod(2021, 9, ZONE)
    hours = [
        hour(datetime(2021, 9, 15, 6, tzinfo=UTC), home=1000, imported=0),  # 23:00 on the 14th, PDT: old terms
        hour(datetime(2021, 9, 15, 7, tzinfo=UTC), home=2000, imported=0),  # local midnight of the 15th: new terms
        hour(datetime(2021, 9, 30, 7, tzinfo=UTC), home=400, imported=100),
    ]
    current, late = unbilled_energy_by_segment(terms, period, hours)
    assert current == {Segment(1, 0): 1000, Segment(1, 1): 2300} and late == {}
    assert terms.rate_of(Segment(1, 0)) == Decimal("0.230000") and terms.rate_of(Segment(1, 1)) == Decimal("0.190000")


def test_amended_terms_are_escalated_by_the_contract_years_of_the_original_start():
    terms = amended(date(2021, 6, 1), date(2022, 3, 1), rate="0.20", escalator="3")
    assert terms.rate_at(datetime(2022, 3, 1, 8, tzinfo=UTC)) == Decimal("0.200000")  # still year 1
    assert terms.rate_at(datetime(2022, 6, 1, 7, tzinfo=UTC)) == Decimal("0.206000")  # year 2: 0.20 x 1.03
    assert terms.rate_at(datetime(2022, 2, 28, 8, tzinfo=UTC)) == Decimal("0.230000")  # before: as enrolled


def test_an_amended_billing_basis_bills_the_hours_from_its_date_by_the_new_basis():
    terms = amended(date(2021, 6, 1), date(2021, 9, 15), rate="0.23", basis="all_consumption")
    period = BillingPeriod(2021, 9, ZONE)
    hours = [hour(datetime(2021, 9, 10, 17, tzinfo=UTC), home=1000, imported=400),
             hour(datetime(2021, 9, 20, 17, tzinfo=UTC), home=1000, imported=400)]
    current, _ = unbilled_energy_by_segment(terms, period, hours)
    assert current == {Segment(1, 0): 600, Segment(1, 1): 1000}
    days = usage_buckets(terms, hours, "day")
    assert [b.billed_wh for b in days] == [600, 1000]
