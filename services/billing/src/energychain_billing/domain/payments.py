"""Payment requests: amounts as decimal dollar strings, methods, idempotency fingerprints."""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal

METHODS = ("card", "venmo", "zelle", "ach")
_AMOUNT = re.compile(r"^[0-9]{1,9}(\.[0-9]{1,2})?$")


class PaymentRefused(Exception):
    """A payment that cannot be taken; ``field`` names the culprit, ``message`` the rule."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class InvalidPayment(PaymentRefused, ValueError):
    """The request itself is malformed (amount, method)."""


class NotAResident(PaymentRefused):
    """The caller has no house in the program."""


class BillingNotStarted(PaymentRefused):
    """The house has no meter readings yet, so it has no account to pay into."""


class IdempotencyKeyReused(PaymentRefused):
    """The key was already used for a payment with other terms."""


class UnknownInvoice(PaymentRefused):
    """The payment names an invoice that is not the house's."""


def parse_amount_cents(amount: object) -> int:
    """A positive dollar amount given as a string with at most 2 decimals, in cents."""
    if not isinstance(amount, str):
        raise InvalidPayment("amount", 'must be a string of dollars, e.g. "12.34"')
    text = amount.strip()
    if text.startswith("-"):
        raise InvalidPayment("amount", "must be positive")
    if re.fullmatch(r"[0-9]*\.[0-9]{3,}", text):
        raise InvalidPayment("amount", "at most 2 decimal places")
    if not _AMOUNT.fullmatch(text):
        raise InvalidPayment("amount", f"not a dollar amount: {amount!r}")
    cents = int(Decimal(text) * 100)
    if cents <= 0:
        raise InvalidPayment("amount", "must be positive")
    return cents


def parse_method(method: object) -> str:
    """One of the payment rails the program accepts."""
    if method not in METHODS:
        raise InvalidPayment("method", f"must be one of {', '.join(METHODS)}")
    return str(method)


def request_fingerprint(*, amount_cents: int, method: str, invoice_id: str | None) -> str:
    """What makes two requests under one idempotency key the same request."""
    return hashlib.sha256(f"{amount_cents}|{method}|{invoice_id or ''}".encode()).hexdigest()
