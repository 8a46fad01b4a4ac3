"""Pure rules of sign-in: throttling after repeated failures, and what a managed user must be."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from energychain_ledger.domain.throttle import Attempts, ThrottlePolicy, after_failure, retry_after_s
from energychain_ledger.domain.users import NewUser, UserRefused, new_user

pytestmark = pytest.mark.unit
T0 = datetime(2026, 12, 1, 9, tzinfo=timezone.utc)
POLICY = ThrottlePolicy(max_failures=3, window=timedelta(minutes=5), lockout=timedelta(seconds=30))
HOUSES = {"house-01": "parlier", "house-r01": "reedley"}


def test_the_failure_that_reaches_the_limit_locks_the_key_for_the_lockout():
    attempts = Attempts()
    for n in range(2):
        attempts = after_failure(POLICY, attempts, T0 + timedelta(seconds=n))
        assert retry_after_s(attempts, T0 + timedelta(seconds=n)) is None
    attempts = after_failure(POLICY, attempts, T0 + timedelta(seconds=2))
    assert attempts.failures == 3
    assert retry_after_s(attempts, T0 + timedelta(seconds=2)) == 30
    assert retry_after_s(attempts, T0 + timedelta(seconds=31.5)) == 1  # rounded up, never 0 while locked
    assert retry_after_s(attempts, T0 + timedelta(seconds=32)) is None


def test_failures_older_than_the_window_start_a_new_count():
    attempts = after_failure(POLICY, after_failure(POLICY, Attempts(), T0), T0 + timedelta(seconds=10))
    later = after_failure(POLICY, attempts, T0 + timedelta(minutes=5))
    assert (later.failures, later.window_start, later.locked_until) == (1, T0 + timedelta(minutes=5), None)


def test_a_failure_right_after_a_lock_ends_locks_again_while_the_window_lasts():
    attempts = Attempts()
    for n in range(3):
        attempts = after_failure(POLICY, attempts, T0 + timedelta(seconds=n))
    again = after_failure(POLICY, attempts, T0 + timedelta(seconds=40))
    assert retry_after_s(again, T0 + timedelta(seconds=40)) == 30


def _new(**changes):
    request = {"username": "maria", "role": "resident", "password": "a long passphrase", "house_id": "house-01",
               "municipality_id": None, "municipality_of_house": HOUSES, "municipalities": {"parlier", "reedley"}}
    return new_user(**{**request, **changes})


def test_a_resident_user_takes_its_municipality_from_its_house():
    assert _new() == NewUser("maria", "resident", "parlier", "house-01")
    assert _new(role="municipality", house_id=None, municipality_id="reedley") == NewUser(
        "maria", "municipality", "reedley", None)


@pytest.mark.parametrize(("changes", "field"), [
    ({"username": "M"}, "username"), ({"username": "has space"}, "username"), ({"role": "gsa"}, "role"),
    ({"password": "short"}, "password"), ({"house_id": "house-99"}, "house_id"), ({"house_id": None}, "house_id"),
    ({"municipality_id": "reedley"}, "municipality_id"),
    ({"role": "municipality", "house_id": None, "municipality_id": "fresno"}, "municipality_id"),
    ({"role": "municipality", "municipality_id": "parlier"}, "house_id"),
])
def test_a_user_that_breaks_a_rule_is_refused_naming_the_field(changes, field):
    with pytest.raises(UserRefused) as refused:
        _new(**changes)
    assert refused.value.field == field
