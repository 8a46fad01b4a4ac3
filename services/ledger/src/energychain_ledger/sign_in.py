"""Use case: sign in (a token for the right password), throttled per username and per client address.

While a username or an address is locked (`domain.throttle`), not even the right password
is checked: the answer is "try again in N seconds". A wrong password counts one failure on
both keys; the right one clears the username's count (the address's count runs out with its
window, so one good account cannot reset an address that guesses others').
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from energychain_ledger.adapters.store import LedgerStore
from energychain_ledger.domain.throttle import ThrottlePolicy, after_failure, retry_after_s
from energychain_ledger.metrics import LOGINS
from energychain_ledger.settings import LedgerSettings

hasher = PasswordHasher()
# Verifying against this keeps an unknown username as slow as a wrong password.
DUMMY_HASH = hasher.hash("not-a-real-password")


class SignInRefused(Exception):
    """No token: why, in words a client can show."""


class Throttled(SignInRefused):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed sign-ins: try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class BadCredentials(SignInRefused):
    def __init__(self) -> None:
        super().__init__("incorrect username or password")


class Disabled(SignInRefused):
    def __init__(self, username: str) -> None:
        super().__init__(f"user {username!r} is disabled")


@dataclass(frozen=True)
class SignInThrottle:
    """The two throttles: per username and per client address."""

    per_user: ThrottlePolicy
    per_address: ThrottlePolicy

    @classmethod
    def of(cls, settings: LedgerSettings) -> SignInThrottle:
        window, lockout = timedelta(seconds=settings.ledger_login_window_s), timedelta(seconds=settings.ledger_login_lockout_s)
        return cls(ThrottlePolicy(settings.ledger_login_max_failures, window, lockout),
                   ThrottlePolicy(settings.ledger_login_max_failures_per_address, window, lockout))


def client_address(peer: str | None, forwarded_for: str | None, trusted_proxies: list[str]) -> str:
    """The client's address: the peer's, or the last X-Forwarded-For hop when the peer is a trusted proxy."""
    if peer and forwarded_for:
        try:
            proxy = ipaddress.ip_address(peer)
            if any(proxy in ipaddress.ip_network(net, strict=False) for net in trusted_proxies):
                return forwarded_for.split(",")[-1].strip() or peer
        except ValueError:
            pass
    return peer or "unknown"


async def verify_password(password_hash: str, password: str) -> bool:
    try:
        return await asyncio.to_thread(hasher.verify, password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def sign_in(store: LedgerStore, throttle: SignInThrottle, *, username: str, password: str, address: str,
                  now: datetime | None = None) -> dict[str, Any]:
    """The user's record for the right password of an enabled user; else SignInRefused, counted in metrics."""
    now = now or datetime.now(timezone.utc)
    user_key, address_key = f"user:{username}", f"address:{address}"
    counted = await store.login_attempts([user_key, address_key])
    waits = [w for w in (retry_after_s(counted[k], now) for k in (user_key, address_key) if k in counted) if w]
    if waits:
        LOGINS.labels("throttled").inc()
        raise Throttled(max(waits))
    user = await store.user(username)
    right = await verify_password(user["password_hash"] if user else DUMMY_HASH, password)
    if user is None or not right:
        policies = {user_key: throttle.per_user, address_key: throttle.per_address}
        await store.record_failure([user_key, address_key],
                                   lambda key, attempts: after_failure(policies[key], attempts, now))
        LOGINS.labels("failed").inc()
        raise BadCredentials()
    await store.clear_attempts(user_key)
    if user["disabled_at"] is not None:
        LOGINS.labels("disabled").inc()
        raise Disabled(username)
    LOGINS.labels("ok").inc()
    return user
