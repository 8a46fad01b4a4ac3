"""Append requests: what makes one acceptable, and the postings its transfers imply."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from energychain_ledger.domain.channels import InvalidChannel, channel_spec

# Reasons an append is dead-lettered (LedgerAppendRejected.reason).
INVALID_REQUEST = "invalid_request"
INVALID_CHANNEL = "invalid_channel"
INVALID_TRANSFER = "invalid_transfer"
UNKNOWN_PRODUCER = "unknown_producer"
BAD_SIGNATURE = "bad_signature"
CONFLICTING_ENTRY = "conflicting_entry"


class AppendRefused(ValueError):
    """An append that must not reach the ledger; ``reason`` is the dead-letter reason code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def check_channels(channels: Sequence[str]) -> None:
    """Every named channel is well formed and named once."""
    if not channels:
        raise AppendRefused(INVALID_CHANNEL, "an append names at least one channel")
    if len(set(channels)) != len(channels):
        raise AppendRefused(INVALID_CHANNEL, f"channel named twice in {list(channels)}")
    for channel in channels:
        try:
            channel_spec(channel, house_municipality={})
        except InvalidChannel as error:
            raise AppendRefused(INVALID_CHANNEL, str(error)) from None


def check_transfers(transfers: Sequence[Mapping[str, Any]]) -> None:
    """Each transfer moves a positive whole number of cents between two different named accounts."""
    for index, transfer in enumerate(transfers):
        debit, credit = transfer.get("debit_account"), transfer.get("credit_account")
        amount = transfer.get("amount_cents")
        where = f"transfers[{index}]"
        if not isinstance(debit, str) or not debit.strip() or not isinstance(credit, str) or not credit.strip():
            raise AppendRefused(INVALID_TRANSFER, f"{where}: debit_account and credit_account must be named")
        if debit == credit:
            raise AppendRefused(INVALID_TRANSFER, f"{where}: debit and credit are the same account {debit!r}")
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise AppendRefused(INVALID_TRANSFER, f"{where}: amount_cents must be integer cents, got {amount!r}")
        if amount <= 0:
            raise AppendRefused(INVALID_TRANSFER, f"{where}: amount_cents must be > 0, got {amount}")


@dataclass(frozen=True, slots=True)
class Append:
    """A verified append request, ready to become a leaf of each of its channels' trees."""

    entry_id: str
    channels: tuple[str, ...]
    kind: str
    event_time: datetime
    producer: str
    entry: bytes  # the canonical entry bytes: what the producer signed and what the leaf hashes
    signature: str
    transfers: tuple[Mapping[str, Any], ...]
    request: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class Posting:
    """One side of a transfer: debit +amount, credit -amount."""

    entry_id: str
    transfer_index: int
    account: str
    amount_cents: int
    event_time: datetime
    memo: str


def postings_for(*, entry_id: str, event_time: datetime, transfers: Sequence[Mapping[str, Any]]) -> list[Posting]:
    """The balanced postings of an entry's transfers (they sum to zero)."""
    postings = []
    for index, transfer in enumerate(transfers):
        amount, memo = int(transfer["amount_cents"]), str(transfer.get("memo", ""))
        postings.append(Posting(entry_id, index, transfer["debit_account"], amount, event_time, memo))
        postings.append(Posting(entry_id, index, transfer["credit_account"], -amount, event_time, memo))
    return postings
