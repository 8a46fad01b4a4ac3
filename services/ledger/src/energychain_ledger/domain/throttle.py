"""Login throttling: after too many failed sign-ins within a window, a key (a username or a client
address) is locked for a while; while locked, not even the right password gets a token.

Wall-clock time is right here: this guards the live API, not the simulated business.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """``max_failures`` failures within ``window`` lock the key for ``lockout``."""

    max_failures: int
    window: timedelta
    lockout: timedelta


@dataclass(frozen=True, slots=True)
class Attempts:
    """The failed sign-ins counted for one key: how many since ``window_start``, and any lock."""

    failures: int = 0
    window_start: datetime | None = None
    locked_until: datetime | None = None


def retry_after_s(attempts: Attempts, now: datetime) -> int | None:
    """Whole seconds until ``attempts``' key may try again (at least 1), or None when it is not locked."""
    if attempts.locked_until is None or attempts.locked_until <= now:
        return None
    return max(1, math.ceil((attempts.locked_until - now).total_seconds()))


def after_failure(policy: ThrottlePolicy, attempts: Attempts, now: datetime) -> Attempts:
    """The count after one more failure at ``now``: a new window once the last one has passed, and a lock
    from the failure that reaches ``max_failures``."""
    if attempts.window_start is None or now - attempts.window_start >= policy.window:
        failures, window_start = 1, now
    else:
        failures, window_start = attempts.failures + 1, attempts.window_start
    locked_until = now + policy.lockout if failures >= policy.max_failures else None
    return Attempts(failures, window_start, locked_until)
