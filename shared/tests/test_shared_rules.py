"""The rules several services apply, in their one home (energychain_shared.rules)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from energychain_shared import rules

pytestmark = pytest.mark.unit
ZONE = ZoneInfo("America/Los_Angeles")


def test_contract_year_turns_on_the_anniversary_and_covers_days_before_the_start():
    start = date(2021, 6, 15)
    assert rules.contract_year(start, date(2021, 1, 1)) == 1
    assert rules.contract_year(start, date(2022, 6, 14)) == 1
    assert rules.contract_year(start, date(2022, 6, 15)) == 2
    assert rules.contract_year(start, date(2024, 6, 15)) == 4


def test_a_29_february_start_has_its_anniversary_on_28_february_in_common_years():
    start = date(2020, 2, 29)
    assert rules.anniversary(start, 1) == date(2021, 2, 28)
    assert rules.contract_year(start, date(2021, 2, 27)) == 1
    assert rules.contract_year(start, date(2021, 2, 28)) == 2
    assert rules.anniversary(start, 4) == date(2024, 2, 29)


def test_the_year_of_an_hour_changes_at_local_midnight_of_the_anniversary():
    start = date(2021, 11, 7)  # a DST change day
    boundary = rules.year_start(start, 2, ZONE)
    assert boundary == datetime(2022, 11, 7, 8, tzinfo=timezone.utc)  # standard time, UTC-8
    assert rules.contract_year_at(start, boundary - timedelta(hours=1), ZONE) == 1
    assert rules.contract_year_at(start, boundary, ZONE) == 2


def test_the_escalated_rate_compounds_and_rounds_half_up_to_six_decimals():
    assert rules.escalated_rate(Decimal("0.23"), Decimal("2"), 1) == Decimal("0.230000")
    assert rules.escalated_rate(Decimal("0.23"), Decimal("2"), 2) == Decimal("0.234600")
    assert rules.escalated_rate(Decimal("0.23"), Decimal("2"), 3) == Decimal("0.239292")
    with pytest.raises(ValueError, match="contract years start at 1"):
        rules.escalated_rate(Decimal("0.23"), Decimal("2"), 0)


def test_canonical_json_sorts_keys_drops_whitespace_and_keeps_utf8():
    assert rules.canonical_json({"b": 1, "a": ["é", None]}) == '{"a":["é",null],"b":1}'.encode()
