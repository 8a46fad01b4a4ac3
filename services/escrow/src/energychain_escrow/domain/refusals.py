"""What escrow refuses to answer, naming the field at fault (the API maps each refusal to its HTTP status)."""

from __future__ import annotations

from datetime import datetime


class EscrowRefusal(Exception):
    """A request escrow refuses; ``field`` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class UnknownMunicipality(EscrowRefusal):
    """No registered municipality has the id asked for."""


class NotAMunicipality(EscrowRefusal):
    """The caller's token names no registered municipality."""


class EmptyRange(EscrowRefusal):
    """A range whose end comes before its start."""


def check_months(first: str | None, last: str | None) -> None:
    """Months ``first``..``last`` (``YYYY-MM``, inclusive): the last must not be before the first."""
    if first and last and last < first:
        raise EmptyRange("to", "must not be before from")


def check_times(start: datetime | None, end: datetime | None) -> None:
    """Times [start, end): the end must be after the start."""
    if start and end and end <= start:
        raise EmptyRange("to", "must be after from")
