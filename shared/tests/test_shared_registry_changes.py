"""The registry's change rules (RegistryBook) and their events: what every service folds the same way."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from energychain_shared import events
from energychain_shared.registry import (
    Contract, ContractAmendment, Move, Municipality, RegistryBook, RegistryConflict, RegistryRefusal, Resident,
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


def amendment(day: date = date(2022, 3, 15), **terms) -> ContractAmendment:
    values = dict(rate_usd_per_kwh=Decimal("0.18"), escalator_percent=Decimal("2"), reserve_wh=2_500,
                  billing_basis="delivered")
    values.update(terms)
    return ContractAmendment(effective_date=day, **values)


def book_with_two_towns() -> RegistryBook:
    book = RegistryBook()
    book.onboard(town())
    book.onboard(town("reedley"))
    book.enrol(resident())
    return book


def test_an_amendment_gives_new_terms_from_its_date_and_keeps_the_old_ones_before():
    book = book_with_two_towns()
    assert book.amend("house-9", amendment()) is True
    assert book.amend("house-9", amendment()) is False  # sent again: nothing new
    amended = book.snapshot().by_house["house-9"]
    assert amended.contract_on(date(2022, 3, 14)).rate_usd_per_kwh == Decimal("0.21")
    on_the_day = amended.contract_on(date(2022, 3, 15))
    assert (on_the_day.rate_usd_per_kwh, on_the_day.reserve_wh) == (Decimal("0.18"), 2_500)
    assert on_the_day.start_date == date(2022, 1, 3)  # contract years still count from the start
    assert [a.effective_date for a in amended.amendments] == [date(2022, 3, 15)]
    assert book.enrol(resident()) is False  # the enrolment sent again is still the same enrolment


def test_amendments_go_forward_in_time_and_keep_the_reserve_within_the_battery():
    book = book_with_two_towns()
    book.amend("house-9", amendment())
    with pytest.raises(RegistryConflict) as earlier:
        book.amend("house-9", amendment(date(2022, 3, 1)))
    assert earlier.value.rule == "amended_from_a_later_date" and earlier.value.status == 409
    with pytest.raises(RegistryConflict):
        book.amend("house-9", amendment(rate_usd_per_kwh=Decimal("0.19")))  # the same day, other terms
    with pytest.raises(RegistryRefusal) as too_big:
        book.amend("house-9", amendment(date(2022, 4, 1), reserve_wh=20_000))
    assert too_big.value.field == "reserve_wh"
    with pytest.raises(RegistryRefusal) as before_start:
        book.amend("house-9", amendment(date(2022, 1, 3)))
    assert before_start.value.rule == "effective_date_after_start"


def test_no_change_takes_effect_after_the_contract_ended():
    book = book_with_two_towns()
    book.end_contract("house-9", date(2022, 7, 24))
    with pytest.raises(RegistryRefusal) as late:
        book.amend("house-9", amendment(date(2022, 7, 25)))
    assert late.value.rule == "effective_date_after_contract_end"
    with pytest.raises(RegistryRefusal):
        book.move("house-9", Move(effective_date=date(2022, 8, 1), municipality_id="reedley"))


def test_a_move_changes_the_municipality_from_its_date():
    book = book_with_two_towns()
    assert book.move("house-9", Move(effective_date=date(2022, 5, 1), municipality_id="reedley")) is True
    assert book.move("house-9", Move(effective_date=date(2022, 5, 1), municipality_id="reedley")) is False
    moved = book.snapshot().by_house["house-9"]
    assert moved.municipality_on(date(2022, 4, 30)) == "fowler"
    assert moved.municipality_on(date(2022, 5, 1)) == "reedley"
    assert moved.latest_municipality_id == "reedley" and moved.municipality_id == "fowler"
    assert moved.municipalities_from() == [(None, "fowler"), (date(2022, 5, 1), "reedley")]


def test_a_move_goes_to_another_onboarded_municipality_of_the_same_time_zone():
    book = book_with_two_towns()
    book.onboard(town("denver", timezone="America/Denver"))
    with pytest.raises(RegistryRefusal) as same:
        book.move("house-9", Move(effective_date=date(2022, 5, 1), municipality_id="fowler"))
    assert same.value.rule == "move_to_another_municipality"
    with pytest.raises(RegistryRefusal) as unknown:
        book.move("house-9", Move(effective_date=date(2022, 5, 1), municipality_id="nowhere"))
    assert unknown.value.field == "municipality_id"
    with pytest.raises(RegistryRefusal) as zone:
        book.move("house-9", Move(effective_date=date(2022, 5, 1), municipality_id="denver"))
    assert zone.value.rule == "move_keeps_time_zone"


def test_amendments_and_moves_fold_from_their_events_into_the_same_registry():
    changes = [
        events.ContractAmended(event_id=events.ContractAmended.id_for("house-9", amendment()),
                               occurred_at="2022-03-15T07:00:00Z", producer="billing", house_id="house-9",
                               amendment=amendment()),
        events.HouseMoved(event_id=events.HouseMoved.id_for("house-9", Move(effective_date=date(2022, 5, 1),
                                                                             municipality_id="reedley")),
                          occurred_at="2022-05-01T07:00:00Z", producer="billing", house_id="house-9",
                          move=Move(effective_date=date(2022, 5, 1), municipality_id="reedley")),
    ]
    direct = book_with_two_towns()
    direct.amend("house-9", amendment())
    direct.move("house-9", Move(effective_date=date(2022, 5, 1), municipality_id="reedley"))
    folded = book_with_two_towns()
    assert [apply_change(folded, events.decode(events.encode(c))) for c in changes * 2] == [True, True, False, False]
    assert folded.snapshot() == direct.snapshot()
    assert changes[0].partition_key == changes[1].partition_key == "house-9"


def test_the_enrolment_event_id_ignores_the_later_changes():
    book = book_with_two_towns()
    book.amend("house-9", amendment())
    assert events.ResidentEnrolled.id_for(book.snapshot().by_house["house-9"]) == events.ResidentEnrolled.id_for(resident())


def test_an_enrolment_carrying_amendments_or_moves_is_refused_naming_them():
    book = book_with_two_towns()
    with pytest.raises(RegistryRefusal) as refused:
        book.enrol(resident(house_id="house-10", username="ana").model_copy(update={"amendments": (amendment(),)}))
    assert refused.value.field == "amendments" and refused.value.status == 422
