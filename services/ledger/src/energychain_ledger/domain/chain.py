"""The per-channel hash chain: what an entry's hash covers, and how a channel is verified."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

# prev_hash of the first entry on every channel.
GENESIS_HASH = "0" * 64

SEQUENCE_GAP = "sequence gap"
BROKEN_LINK = "broken link"
HASH_MISMATCH = "hash mismatch"
BAD_SIGNATURE = "bad signature"
HEAD_MISMATCH = "head mismatch"
CHECKPOINT_MISMATCH = "checkpoint mismatch"


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON (sorted keys, no whitespace, UTF-8); identical to events.canonical_json."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def format_time(value: datetime) -> str:
    """The one text form of a timestamp inside hashed material: UTC ISO-8601."""
    if value.tzinfo is None:
        raise ValueError("timestamps in the ledger must be timezone-aware")
    return value.astimezone(timezone.utc).isoformat()


@dataclass(frozen=True, slots=True)
class ChainRow:
    """One entry's position on one channel, with everything its hash covers."""

    channel: str
    seq: int
    entry_id: str
    kind: str
    event_time: datetime
    producer: str
    payload: Mapping[str, Any]
    transfers: tuple[Mapping[str, Any], ...]
    channels: tuple[str, ...]
    signature: str
    prev_hash: str
    hash: str = ""


def entry_hash(row: ChainRow) -> str:
    """SHA-256 over the canonical encoding of the row's content and its predecessor's hash."""
    material = {
        "channel": row.channel,
        "seq": row.seq,
        "entry_id": row.entry_id,
        "kind": row.kind,
        "event_time": format_time(row.event_time),
        "producer": row.producer,
        "payload": row.payload,
        "transfers": list(row.transfers),
        "channels": list(row.channels),
        "signature": row.signature,
        "prev_hash": row.prev_hash,
    }
    return hashlib.sha256(canonical_json(material)).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainFailure:
    """The first entry of a channel that does not verify, and why."""

    channel: str
    seq: int
    entry_id: str | None
    problem: str
    detail: str


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Outcome of verifying one channel."""

    channel: str
    entries_checked: int
    start_seq: int
    last_seq: int
    last_hash: str
    failure: ChainFailure | None
    checkpoints_confirmed: tuple[int, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when every checked entry verified."""
        return self.failure is None


def verify_chain(
    rows: Iterable[ChainRow],
    *,
    channel: str,
    signature_ok: Callable[[ChainRow], bool],
    start_seq: int = 0,
    start_hash: str = GENESIS_HASH,
    head: tuple[int, str] | None = None,
    checkpoints: Mapping[int, str] | None = None,
) -> VerifyReport:
    """Walk ``rows`` (ordered by seq, starting after ``start_seq``) and report the first that fails.

    Checks in order: gapless sequence, link to the predecessor's hash, the row's own
    hash, the producer's signature, any checkpoint pinned at that seq; finally that
    the chain ends at the recorded channel ``head`` (catches removal of the last rows).
    """
    checkpoints = checkpoints or {}
    expected_seq, prev_hash, checked, confirmed = start_seq + 1, start_hash, 0, []

    def report(failure: ChainFailure | None) -> VerifyReport:
        return VerifyReport(
            channel, checked, start_seq, expected_seq - 1, prev_hash, failure, tuple(confirmed)
        )

    for row in rows:
        if row.seq != expected_seq:
            return report(ChainFailure(
                channel, row.seq, row.entry_id, SEQUENCE_GAP,
                f"expected seq {expected_seq}, found {row.seq}",
            ))
        if row.prev_hash != prev_hash:
            return report(ChainFailure(
                channel, row.seq, row.entry_id, BROKEN_LINK,
                f"prev_hash {row.prev_hash[:16]}… does not match the previous entry's hash {prev_hash[:16]}…",
            ))
        recomputed = entry_hash(row)
        if recomputed != row.hash:
            return report(ChainFailure(
                channel, row.seq, row.entry_id, HASH_MISMATCH,
                f"stored hash {row.hash[:16]}… but content hashes to {recomputed[:16]}…",
            ))
        if not signature_ok(row):
            return report(ChainFailure(
                channel, row.seq, row.entry_id, BAD_SIGNATURE,
                f"signature does not verify with {row.producer}'s registered key",
            ))
        pinned = checkpoints.get(row.seq)
        if pinned is not None:
            if pinned != row.hash:
                return report(ChainFailure(
                    channel, row.seq, row.entry_id, CHECKPOINT_MISMATCH,
                    f"checkpoint pinned {pinned[:16]}… at seq {row.seq}, chain has {row.hash[:16]}…",
                ))
            confirmed.append(row.seq)
        prev_hash, expected_seq, checked = row.hash, expected_seq + 1, checked + 1
    if head is not None and head != (expected_seq - 1, prev_hash):
        return report(ChainFailure(
            channel, head[0], None, HEAD_MISMATCH,
            f"channel head is seq {head[0]} ({head[1][:16]}…) but the chain ends at seq "
            f"{expected_seq - 1} ({prev_hash[:16]}…): entries are missing",
        ))
    return report(None)
