"""Append requests: what makes one acceptable, and how a batch is placed on the chains."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from energychain_ledger.domain.chain import ChainRow, entry_hash
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
    """A verified append request, ready to be chained."""

    entry_id: str
    channels: tuple[str, ...]
    kind: str
    event_time: datetime
    producer: str
    payload: Mapping[str, Any]
    transfers: tuple[Mapping[str, Any], ...]
    signature: str
    digest: str  # SHA-256 of the signed bytes: same digest = same entry
    request: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class Head:
    """A channel's last seq and hash."""

    seq: int
    hash: str


@dataclass(frozen=True, slots=True)
class Posting:
    """One side of a transfer: debit +amount, credit -amount."""

    entry_id: str
    transfer_index: int
    account: str
    amount_cents: int
    event_time: datetime
    memo: str


@dataclass(slots=True)
class BatchPlan:
    """What one batch writes: chain rows, postings, new heads; and what it leaves out."""

    rows: list[ChainRow] = field(default_factory=list)
    postings: list[Posting] = field(default_factory=list)
    heads: dict[str, Head] = field(default_factory=dict)
    appended: list[Append] = field(default_factory=list)
    duplicates: list[Append] = field(default_factory=list)
    conflicts: list[tuple[Append, str]] = field(default_factory=list)


def postings_for(append: Append) -> list[Posting]:
    """The balanced postings of an append's transfers (they sum to zero)."""
    postings = []
    for index, transfer in enumerate(append.transfers):
        amount, memo = int(transfer["amount_cents"]), str(transfer.get("memo", ""))
        postings.append(Posting(append.entry_id, index, transfer["debit_account"], amount, append.event_time, memo))
        postings.append(Posting(append.entry_id, index, transfer["credit_account"], -amount, append.event_time, memo))
    return postings


def plan_batch(
    appends: Sequence[Append], *, heads: Mapping[str, Head], existing_digests: Mapping[str, str]
) -> BatchPlan:
    """Place new appends on their channels' chains, in order; known ids are duplicates or conflicts.

    ``heads`` must hold every channel the appends name; ``existing_digests`` the
    stored digests of any of their entry ids. An entry named again with the same
    digest changes nothing; with another digest it is a conflict and never overwrites.
    """
    plan = BatchPlan(heads=dict(heads))
    seen = dict(existing_digests)
    for append in appends:
        known = seen.get(append.entry_id)
        if known is not None:
            if known == append.digest:
                plan.duplicates.append(append)
            else:
                plan.conflicts.append((append, (
                    f"entry {append.entry_id} already exists with a different body "
                    f"(stored digest {known[:16]}…, this one {append.digest[:16]}…)"
                )))
            continue
        seen[append.entry_id] = append.digest
        for channel in append.channels:
            head = plan.heads[channel]
            row = ChainRow(
                channel=channel, seq=head.seq + 1, entry_id=append.entry_id, kind=append.kind,
                event_time=append.event_time, producer=append.producer, payload=append.payload,
                transfers=append.transfers, channels=append.channels, signature=append.signature,
                prev_hash=head.hash,
            )
            digest = entry_hash(row)
            row = replace(row, hash=digest)
            plan.rows.append(row)
            plan.heads[channel] = Head(row.seq, digest)
        plan.postings.extend(postings_for(append))
        plan.appended.append(append)
    return plan

