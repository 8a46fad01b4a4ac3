"""The registry's change rules (RegistryBook) and their events: what every service folds the same way."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from energychain_shared import events
from energychain_shared.registry import (
    Contract, Municipality, RegistryBook, RegistryConflict, RegistryRefusal, Resident,
)
from energychain_shared.registry_feed import apply_change

pytestmark = pytest.mark.unit


def town(municipality_id: str = "fowler", **overrides) -> Municipality:
    return Municipality(municipality_id=municipality_id, name=municipality_id.title(), **overrides)


def resident(house_id: str = "house-9", username: str = "rosa", municipality_id: str = "fowler", **terms) -> Resident:
    contract = dict(rate_usd_per_kwh=Decimal("0.21"), battery_wh=10_000, reserve_wh=2_000, start_date=date(2022, 1, 3))
    contract.update(terms)
    return Resident(house_id=house_id, username=username, name="Rosa Diaz", address="1 Main St",
                    municipality_id=municipality_id, contract=Contract(**contract))


def test_an_enrolment_sent_twice_changes_nothing_the_second_time():
    book = RegistryBook()
    assert book.onboard(town()) is True
    assert book.enrol(resident()) is True
    assert book.enrol(resident()) is False
    assert book.onboard(town()) is False
    assert [r.house_id for r in book.snapshot().residents] == ["house-9"]


def test_a_second_enrolment_of_a_house_with_other_terms_is_a_conflict():
    book = RegistryBook()
    book.onboard(town())
    book.enrol(resident())
    with pytest.raises(RegistryConflict) as refused:
        book.enrol(resident(rate_usd_per_kwh=Decimal("0.25")))
    assert refused.value.field == "house_id" and refused.value.status == 409
    assert book.snapshot().by_house["house-9"].contract.rate_usd_per_kwh == Decimal("0.21")


def test_a_username_held_by_another_house_is_a_conflict():
    book = RegistryBook()
    book.onboard(town())
    book.enrol(resident())
    with pytest.raises(RegistryConflict) as refused:
        book.enrol(resident(house_id="house-10"))
    assert refused.value.field == "username"


def test_a_municipality_onboarded_again_with_other_terms_is_a_conflict():
    book = RegistryBook()
    book.onboard(town())
    with pytest.raises(RegistryConflict):
        book.onboard(town(timezone="America/Denver"))


def test_a_resident_of_a_municipality_not_onboarded_is_refused_naming_the_field():
    with pytest.raises(RegistryRefusal) as refused:
        RegistryBook().enrol(resident(municipality_id="nowhere"))
    assert refused.value.field == "municipality_id" and refused.value.status == 422


def test_registry_events_round_trip_and_fold_into_the_same_registry():
    onboarded = events.MunicipalityOnboarded(event_id=events.MunicipalityOnboarded.id_for(town()),
                                             occurred_at="2022-01-01T00:00:00Z", producer="billing", municipality=town())
    enrolled = events.ResidentEnrolled(event_id=events.ResidentEnrolled.id_for(resident()),
                                       occurred_at="2022-01-03T08:00:00Z", producer="billing", resident=resident())
    wire = [events.decode(events.encode(e)) for e in (onboarded, enrolled, enrolled)]
    assert wire[0] == onboarded and wire[1] == enrolled
    first, second = RegistryBook(), RegistryBook()
    assert [apply_change(first, e) for e in wire] == [True, True, False]
    for e in wire:
        apply_change(second, e)
    assert first.snapshot() == second.snapshot()
    assert enrolled.partition_key == "house-9" and onboarded.partition_key == "fowler"


def test_the_same_enrolment_has_the_same_event_id_and_other_terms_another():
    assert events.ResidentEnrolled.id_for(resident()) == events.ResidentEnrolled.id_for(resident())
    assert events.ResidentEnrolled.id_for(resident()) != events.ResidentEnrolled.id_for(resident(reserve_wh=3_000))


def test_a_contract_ends_once_on_its_date_and_the_enrolment_sent_again_is_still_nothing_new():
    book = RegistryBook()
    book.onboard(town())
    book.enrol(resident())
    assert book.end_contract("house-9", date(2022, 7, 24)) is True
    assert book.end_contract("house-9", date(2022, 7, 24)) is False
    assert book.enrol(resident()) is False
    with pytest.raises(RegistryConflict) as other_day:
        book.end_contract("house-9", date(2022, 7, 25))
    assert other_day.value.field == "end_date"
    ended = book.snapshot().by_house["house-9"].contract
    assert ended.end_date == date(2022, 7, 24)
    assert ended.ends_at(town().zone).isoformat() == "2022-07-25T07:00:00+00:00"  # local midnight after, PDT


def test_a_contract_cannot_end_before_it_starts_or_for_a_house_not_enrolled():
    book = RegistryBook()
    book.onboard(town())
    book.enrol(resident())
    with pytest.raises(RegistryRefusal, match="before the contract's start"):
        book.end_contract("house-9", date(2021, 12, 31))
    with pytest.raises(RegistryRefusal) as unknown:
        book.end_contract("house-77", date(2022, 7, 24))
    assert unknown.value.field == "house_id"


def test_a_contract_end_folds_from_its_event():
    book = RegistryBook()
    book.onboard(town())
    book.enrol(resident())
    ended = events.ContractEnded(event_id=events.ContractEnded.id_for("house-9", date(2022, 7, 24)),
                                 occurred_at="2022-07-25T07:00:00Z", producer="billing", house_id="house-9",
                                 end_date=date(2022, 7, 24))
    assert apply_change(book, events.decode(events.encode(ended))) is True
    assert book.snapshot().by_house["house-9"].contract.end_date == date(2022, 7, 24)
