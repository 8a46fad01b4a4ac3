"""Billing's ledger entries: an issued invoice and a received payment on the resident's channel."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from energychain_shared import events
from energychain_shared.channels import Accounts, resident_channel
from energychain_shared.events import Transfer, deterministic_id
from energychain_shared.ledger_client import signed_append

from energychain_billing import SERVICE_NAME

_BODY_EXCLUDE = {"event_type", "schema_version", "producer"}


def invoice_entry(key: Ed25519PrivateKey, issued: events.InvoiceIssued, new_charges_cents: int):
    """receivable <- revenue for the invoice's new charges (reversed when negative; none when zero)."""
    receivable = Accounts.resident_receivable(issued.house_id)
    transfers = []
    if new_charges_cents:
        debit, credit = (
            (receivable, Accounts.GSA_REVENUE) if new_charges_cents > 0 else (Accounts.GSA_REVENUE, receivable)
        )
        transfers.append(
            Transfer(debit_account=debit, credit_account=credit, amount_cents=abs(new_charges_cents), memo="new charges")
        )
    return signed_append(
        key=key, producer=SERVICE_NAME, entry_id=deterministic_id("billing-ledger", "invoice", issued.invoice_id),
        channels=[resident_channel(issued.house_id)], kind="invoice_issued", occurred_at=issued.occurred_at,
        body=issued.model_dump(mode="json", exclude=_BODY_EXCLUDE), transfers=transfers,
    )


def payment_entry(key: Ed25519PrivateKey, received: events.PaymentReceived):
    """cash <- receivable for the amount paid."""
    return signed_append(
        key=key, producer=SERVICE_NAME,
        entry_id=deterministic_id("billing-ledger", "payment", received.payment_id),
        channels=[resident_channel(received.house_id)], kind="payment_received", occurred_at=received.occurred_at,
        body=received.model_dump(mode="json", exclude=_BODY_EXCLUDE),
        transfers=[Transfer(
            debit_account=Accounts.GSA_CASH, credit_account=Accounts.resident_receivable(received.house_id),
            amount_cents=received.amount_cents, memo=f"payment by {received.method}",
        )],
    )
