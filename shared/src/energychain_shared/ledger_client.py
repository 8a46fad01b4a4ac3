"""Producer side of the ledger contract: build and sign append requests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from energychain_shared.events import LedgerAppendRequested, Transfer
from energychain_shared.keys import sign


def signed_append(
    *,
    key: Ed25519PrivateKey,
    producer: str,
    entry_id: str,
    channels: Iterable[str],
    kind: str,
    occurred_at: datetime,
    body: Mapping[str, Any],
    transfers: Iterable[Transfer] = (),
) -> LedgerAppendRequested:
    """An append request for ``channels``, signed with the producing service's key.

    ``entry_id`` must be deterministic (derived from the business fact), so a
    re-sent append is recognised by the ledger as the same entry.
    """
    unsigned = LedgerAppendRequested(
        event_id=entry_id,
        entry_id=entry_id,
        occurred_at=occurred_at,
        producer=producer,
        channels=tuple(channels),
        kind=kind,
        body=dict(body),
        transfers=tuple(transfers),
        signature="",
    )
    return unsigned.model_copy(update={"signature": sign(key, unsigned.signing_payload())})
