"""Membership by date: which municipality may read which entries of a resident channel after a move."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from energychain_ledger.domain.access import account_visibility, channel_visibility
from energychain_ledger.domain.membership import (
    EVERYTHING,
    NOTHING,
    Span,
    ever_members,
    local_midnight,
    membership_spans,
    municipality_at,
    municipality_visibility,
)
from energychain_shared.registry import Contract, Move, Municipality, Resident

pytestmark = pytest.mark.unit

UTC = timezone.utc
PACIFIC = ZoneInfo("America/Los_Angeles")
MOVED = date(2024, 3, 15)
AT_MOVE = datetime(2024, 3, 15, 7, tzinfo=UTC)  # local midnight, PDT (UTC-7)
MICRO = timedelta(microseconds=1)


def _spans(*pieces: tuple[date | None, str]) -> tuple[Span, ...]:
    return membership_spans(list(pieces), PACIFIC)


def test_a_house_that_never_moved_has_one_span_for_the_channels_whole_life():
    spans = _spans((None, "parlier"))
    assert spans == (Span("parlier"),)
    assert municipality_visibility(spans, "parlier") == EVERYTHING
    assert municipality_visibility(spans, "reedley").nothing


def test_a_move_splits_membership_at_the_local_midnight_of_its_date_in_utc():
    spans = _spans((None, "parlier"), (MOVED, "reedley"))
    assert spans == (Span("parlier", None, AT_MOVE), Span("reedley", AT_MOVE, None))
    assert ever_members(spans) == {"parlier", "reedley"}


@pytest.mark.parametrize("day, utc_hour", [
    (date(2024, 1, 15), 8),   # PST
    (date(2024, 3, 10), 8),   # the day daylight time begins (at 2 am): midnight is still PST
    (date(2024, 3, 11), 7),   # PDT
    (date(2024, 11, 3), 7),   # the day it ends (at 2 am): midnight is still PDT
])
def test_the_instant_follows_the_municipalitys_time_zone_not_a_fixed_offset(day, utc_hour):
    assert local_midnight(day, PACIFIC) == datetime(day.year, day.month, day.day, utc_hour, tzinfo=UTC)
    (_, new) = _spans((None, "parlier"), (day, "reedley"))
    assert new.start == datetime(day.year, day.month, day.day, utc_hour, tzinfo=UTC)


def test_the_old_municipality_sees_entries_before_the_move_and_the_new_one_from_the_move_on():
    spans = _spans((None, "parlier"), (MOVED, "reedley"))
    old, new = municipality_visibility(spans, "parlier"), municipality_visibility(spans, "reedley")
    for at, old_sees in ((datetime(2022, 1, 1, tzinfo=UTC), True), (AT_MOVE - MICRO, True), (AT_MOVE, False),
                         (AT_MOVE + timedelta(days=400), False)):
        assert (at in old) is old_sees, at
        assert (at in new) is not old_sees, at
    assert municipality_visibility(spans, "fowler").nothing


def test_a_house_that_moves_away_and_back_gives_its_first_town_two_spans():
    back = date(2024, 9, 1)
    spans = _spans((None, "parlier"), (MOVED, "reedley"), (back, "parlier"))
    back_at = local_midnight(back, PACIFIC)
    assert [s.municipality_id for s in spans] == ["parlier", "reedley", "parlier"]
    parlier, reedley = municipality_visibility(spans, "parlier"), municipality_visibility(spans, "reedley")
    assert AT_MOVE - MICRO in parlier and AT_MOVE not in parlier and back_at in parlier
    assert AT_MOVE in reedley and back_at - MICRO in reedley and back_at not in reedley
    assert ever_members(spans) == {"parlier", "reedley"}


def test_moves_go_forward_in_time():
    with pytest.raises(ValueError):
        _spans((None, "parlier"), (MOVED, "reedley"), (MOVED - timedelta(days=1), "fowler"))
    with pytest.raises(ValueError):
        _spans((MOVED, "parlier"))
    assert _spans() == ()


def test_the_spans_agree_with_the_registrys_municipality_of_each_local_day():
    town = Municipality(municipality_id="parlier", name="Parlier")
    resident = Resident(
        house_id="house-01", username="luis", name="Luis", address="1 Main St", municipality_id="parlier",
        contract=Contract(rate_usd_per_kwh=Decimal("0.2"), battery_wh=10_000, reserve_wh=1_000,
                          start_date=date(2022, 1, 1)),
        moves=(Move(effective_date=date(2024, 3, 10), municipality_id="reedley"),
               Move(effective_date=date(2024, 11, 3), municipality_id="fowler")))
    spans = membership_spans(resident.municipalities_from(), town.zone)
    at = datetime(2024, 3, 8, tzinfo=UTC)
    while at < datetime(2024, 11, 6, tzinfo=UTC):
        assert municipality_at(spans, at) == resident.municipality_on(at.astimezone(town.zone).date()), at
        at += timedelta(minutes=30)


SPANS = {"house-01": _spans((None, "parlier"), (MOVED, "reedley")), "house-02": _spans((None, "parlier"))}


def _rule(role: str, *, house_id: str | None = None, municipality_id: str | None = None) -> dict:
    return dict(role=role, house_id=house_id, municipality_id=municipality_id,
                spans_of_house=lambda house: SPANS.get(house, ()))


def test_channel_visibility_by_role():
    assert channel_visibility("resident:house-01", **_rule("gsa")) == EVERYTHING
    assert channel_visibility("gsa", **_rule("gsa")) == EVERYTHING
    assert channel_visibility("resident:house-01", **_rule("resident", house_id="house-01")) == EVERYTHING
    assert channel_visibility("resident:house-02", **_rule("resident", house_id="house-01")) == NOTHING
    parlier = _rule("municipality", municipality_id="parlier")
    reedley = _rule("municipality", municipality_id="reedley")
    assert channel_visibility("municipality:parlier", **parlier) == EVERYTHING
    assert channel_visibility("municipality:reedley", **parlier) == NOTHING
    assert channel_visibility("gsa", **parlier) == NOTHING
    assert channel_visibility("resident:house-02", **parlier) == EVERYTHING  # never moved: as before
    assert channel_visibility("resident:house-02", **reedley) == NOTHING
    moved_old = channel_visibility("resident:house-01", **parlier)
    moved_new = channel_visibility("resident:house-01", **reedley)
    assert AT_MOVE - MICRO in moved_old and AT_MOVE not in moved_old
    assert AT_MOVE in moved_new and AT_MOVE - MICRO not in moved_new
    assert channel_visibility("resident:house-01", **_rule("municipality")) == NOTHING  # a token without its town


def test_a_moved_houses_accounts_are_seen_by_each_municipality_for_its_own_span():
    parlier = _rule("municipality", municipality_id="parlier")
    reedley = _rule("municipality", municipality_id="reedley")
    old = account_visibility("resident:house-01:receivable", **parlier)
    new = account_visibility("resident:house-01:receivable", **reedley)
    assert AT_MOVE - MICRO in old and AT_MOVE not in old and AT_MOVE in new and AT_MOVE - MICRO not in new
    assert not account_visibility("resident:house-01:receivable", **parlier).nothing
    assert not account_visibility("resident:house-01:receivable", **reedley).nothing
    assert account_visibility("resident:house-02:receivable", **reedley).nothing
    assert account_visibility("resident:house-01:receivable", **_rule("gsa")) == EVERYTHING
    assert account_visibility("resident:house-01:receivable", **_rule("resident", house_id="house-01")) == EVERYTHING
    assert account_visibility("municipality:reedley:escrow", **parlier) == NOTHING


def test_a_verification_problem_of_an_entry_the_caller_may_not_read_keeps_its_kind_and_place_not_its_detail():
    from energychain_ledger.verification import COLUMN_MISMATCH, POSTING_MISMATCH, WITHHELD, Problem, withhold

    problems = [Problem(COLUMN_MISMATCH, "column kind is 'Invoice' but the entry says 'Refund'", channel="resident:h",
                        seq=3, entry_id="invoice-h-2024-04"),
                Problem(POSTING_MISMATCH, "posting invoice-h-2024-04/0/resident:h:receivable is 5 cents",
                        channel="resident:h", entry_id="invoice-h-2024-04"),
                Problem(COLUMN_MISMATCH, "column kind is 'A' but the entry says 'B'", channel="resident:h", seq=1,
                        entry_id="invoice-h-2024-02")]
    shown = withhold(problems, hidden_seqs={3}, hidden_ids={"invoice-h-2024-04"})
    assert [(p.problem, p.seq, p.entry_id, p.detail) for p in shown[:2]] == [
        (COLUMN_MISMATCH, 3, None, WITHHELD), (POSTING_MISMATCH, None, None, WITHHELD)]
    assert shown[2] == problems[2]
