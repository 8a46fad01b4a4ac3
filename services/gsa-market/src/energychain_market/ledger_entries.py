"""The market's ledger entries: what goes on which channel, with which balanced transfers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from energychain_shared.channels import GSA_CHANNEL, Accounts, resident_channel
from energychain_shared.events import Event, LedgerAppendRequested, Transfer, deterministic_id
from energychain_shared.ledger_client import signed_append

from energychain_market import SERVICE_NAME

ENVELOPE_FIELDS = frozenset({"event_type", "schema_version", "event_id", "producer"})


def event_body(event: Event) -> dict[str, Any]:
    """An event's facts as a ledger entry body (its envelope fields left out)."""
    return event.model_dump(mode="json", exclude=set(ENVELOPE_FIELDS))


def _append(
    key: Ed25519PrivateKey,
    *,
    kind: str,
    natural_key: str,
    channels: Iterable[str],
    occurred_at: datetime,
    body: Mapping[str, Any],
    transfers: Iterable[Transfer] = (),
) -> LedgerAppendRequested:
    return signed_append(
        key=key,
        producer=SERVICE_NAME,
        entry_id=deterministic_id("market-ledger", kind, natural_key),
        channels=channels,
        kind=kind,
        occurred_at=occurred_at,
        body=body,
        transfers=transfers,
    )


def resident_entry(
    key: Ed25519PrivateKey, *, kind: str, house_id: str, natural_key: str, occurred_at: datetime, body: Mapping[str, Any]
) -> LedgerAppendRequested:
    """An offer fact (offered, cancelled, cleared, unsold) on the resident's own channel."""
    return _append(
        key, kind=kind, natural_key=natural_key, channels=[resident_channel(house_id)],
        occurred_at=occurred_at, body=body,
    )


def bid_entry(key: Ed25519PrivateKey, *, kind: str, bid_id: str, occurred_at: datetime, body: Mapping[str, Any]):
    """An aggregated bid (submitted or withheld) on the GSA channel."""
    return _append(key, kind=kind, natural_key=bid_id, channels=[GSA_CHANNEL], occurred_at=occurred_at, body=body)


def settlement_transfers(house_id: str, *, credit_cents: int, fee_cents: int) -> tuple[Transfer, ...]:
    """Trade settled: gsa:cash <- resident receivable (credit) and gsa:cash <- market fees (fee); zeros omitted."""
    transfers = []
    if credit_cents > 0:
        transfers.append(
            Transfer(
                debit_account=Accounts.GSA_CASH,
                credit_account=Accounts.resident_receivable(house_id),
                amount_cents=credit_cents,
                memo="trade credit",
            )
        )
    if fee_cents > 0:
        transfers.append(
            Transfer(
                debit_account=Accounts.GSA_CASH, credit_account=Accounts.GSA_FEES, amount_cents=fee_cents, memo="GSA fee"
            )
        )
    return tuple(transfers)


def settlement_entry(
    key: Ed25519PrivateKey, *, house_id: str, settlement_id: str, occurred_at: datetime, body: Mapping[str, Any],
    credit_cents: int, fee_cents: int,
) -> LedgerAppendRequested:
    """A settled trade on the resident's channel, with its balanced transfers."""
    return _append(
        key, kind="trade_settled", natural_key=settlement_id, channels=[resident_channel(house_id)],
        occurred_at=occurred_at, body=body,
        transfers=settlement_transfers(house_id, credit_cents=credit_cents, fee_cents=fee_cents),
    )
