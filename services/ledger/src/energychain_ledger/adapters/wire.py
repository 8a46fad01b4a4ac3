"""From Kafka bytes to a verified Append (or a refusal), and from a refusal to a dead letter."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from pydantic import ValidationError

from energychain_ledger.adapters.signatures import SignatureVerifier
from energychain_ledger.domain.appends import (
    BAD_SIGNATURE,
    INVALID_REQUEST,
    UNKNOWN_PRODUCER,
    Append,
    AppendRefused,
    check_channels,
    check_transfers,
)
from energychain_shared.events import LedgerAppendRejected, LedgerAppendRequested, deterministic_id

LEDGER_PRODUCER = "ledger"


@dataclass(frozen=True, slots=True)
class Prepared:
    """A decoded, rule-checked append whose signature is still to be checked."""

    append: Append
    signed: bytes
    verifiers: Sequence[SignatureVerifier]

    def signature_valid(self) -> bool:
        """True when a registered key of the producer signed exactly these bytes."""
        return self.signer() is not None

    def signer(self) -> SignatureVerifier | None:
        """The producer's key that signed these bytes, or None."""
        for verify in self.verifiers:
            if verify(self.signed, self.append.signature):
                return verify
        return None


def bad_signature(append: Append) -> AppendRefused:
    """The refusal of an append whose signature does not verify."""
    return AppendRefused(BAD_SIGNATURE, f"signature does not verify with {append.producer}'s registered key")


def parse_append(raw: bytes, *, keys: Mapping[str, Sequence[SignatureVerifier]]) -> Append:
    """Decode, validate and signature-check one append request (AppendRefused says why not)."""
    prepared = prepare_append(raw, keys=keys)
    if not prepared.signature_valid():
        raise bad_signature(prepared.append)
    return prepared.append


def prepare_append(raw: bytes, *, keys: Mapping[str, Sequence[SignatureVerifier]]) -> Prepared:
    """Decode and check one append request, all but its signature (AppendRefused says why not)."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise AppendRefused(INVALID_REQUEST, f"not JSON: {error}") from None
    if not isinstance(data, dict):
        raise AppendRefused(INVALID_REQUEST, "an append request is a JSON object")
    if data.get("event_type") != "LedgerAppendRequested":
        raise AppendRefused(INVALID_REQUEST, f"event_type {data.get('event_type')!r} is not LedgerAppendRequested")
    # Money and channel rules first, so their refusals carry their own reason codes.
    transfers = data.get("transfers", [])
    if isinstance(transfers, list) and all(isinstance(t, dict) for t in transfers):
        check_transfers(transfers)
    channels = data.get("channels")
    if isinstance(channels, list) and all(isinstance(c, str) for c in channels):
        check_channels(channels)
    try:
        request = LedgerAppendRequested.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<event>'}: {e['msg']}" for e in error.errors()
        )
        raise AppendRefused(INVALID_REQUEST, problems) from None
    producer_keys = keys.get(request.producer)
    if not producer_keys:
        raise AppendRefused(UNKNOWN_PRODUCER, f"no registered public key for producer {request.producer!r}")
    signed = request.signing_payload()
    return Prepared(append=Append(
        entry_id=request.entry_id,
        channels=request.channels,
        kind=request.kind,
        event_time=request.occurred_at,
        producer=request.producer,
        entry=signed,
        signature=request.signature,
        transfers=tuple(t.model_dump(mode="json") for t in request.transfers),
        request=data,
    ), signed=signed, verifiers=producer_keys)


def check_signatures(prepared: Sequence[Prepared]) -> list[SignatureVerifier | None]:
    """The key that signed each prepared append, None for none (runs on a worker thread)."""
    return [item.signer() for item in prepared]


def rejection(
    raw: bytes, *, reason: str, detail: str, request: Mapping[str, Any] | None, fallback_time: datetime
) -> LedgerAppendRejected:
    """The dead letter for a refused append; its id is deterministic, so a re-refusal is recognisable."""
    if request is None:
        try:
            parsed = json.loads(raw)
            request = parsed if isinstance(parsed, dict) else {"raw": raw.decode("utf-8", "replace")[:10_000]}
        except (ValueError, UnicodeDecodeError):
            request = {"raw": raw.decode("utf-8", "replace")[:10_000]}
    entry_id = str(request.get("entry_id") or "unknown")[:64]
    occurred = fallback_time
    try:
        occurred = datetime.fromisoformat(str(request["occurred_at"]).replace("Z", "+00:00"))
        if occurred.tzinfo is None:
            occurred = fallback_time
    except (KeyError, ValueError):
        pass
    return LedgerAppendRejected(
        event_id=deterministic_id("LedgerAppendRejected", entry_id, reason, hashlib.sha256(raw).hexdigest()),
        occurred_at=occurred.astimezone(timezone.utc),
        producer=LEDGER_PRODUCER,
        entry_id=entry_id,
        reason=reason,
        detail=detail,
        request=dict(request),
    )
