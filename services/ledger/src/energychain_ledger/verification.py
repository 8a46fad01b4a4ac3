"""Verify a channel's chain and signatures from the database, optionally from a checkpoint."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from energychain_ledger.adapters.signatures import SignatureVerifier
from energychain_ledger.adapters.store import LedgerStore
from energychain_ledger.adapters.wire import request_of
from energychain_ledger.domain.chain import GENESIS_HASH, ChainRow, VerifyReport, verify_chain


def signature_checker(keys: Mapping[str, Sequence[SignatureVerifier]]):
    """A predicate: does a stored row carry its producer's valid signature over what it says?"""

    def signature_ok(row: ChainRow) -> bool:
        try:
            request = request_of({
                "entry_id": row.entry_id, "event_time": row.event_time, "producer": row.producer,
                "channels": row.channels, "kind": row.kind, "payload": row.payload,
                "transfers": row.transfers, "signature": row.signature,
            })
        except ValueError:
            return False
        payload = request.signing_payload()
        return any(key(payload, row.signature) for key in keys.get(row.producer, ()))

    return signature_ok


async def verify_channel(
    store: LedgerStore, keys: Mapping[str, Sequence[SignatureVerifier]], channel: str, *,
    from_checkpoint: bool = False,
) -> VerifyReport:
    """Recompute ``channel``'s chain; every checkpoint is confirmed on the way.

    With ``from_checkpoint`` the walk trusts the newest checkpoint and starts after it.
    """
    head = await store.head(channel)
    pinned = await store.channel_checkpoints(channel)
    start_seq, start_hash = 0, GENESIS_HASH
    if from_checkpoint and pinned:
        start_seq, start_hash = pinned[-1]
    rows = [row async for row in store.chain(channel, after_seq=start_seq)]
    return verify_chain(
        rows, channel=channel, signature_ok=signature_checker(keys), start_seq=start_seq,
        start_hash=start_hash, head=head, checkpoints=dict(pinned),
    )
