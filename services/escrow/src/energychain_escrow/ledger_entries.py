"""Escrow's movements as ledger appends: the balanced transfers of docs/CONVENTIONS.md ("Money on the ledger")."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from energychain_shared import events
from energychain_shared.channels import Accounts, municipality_channel, resident_channel
from energychain_shared.events import Transfer, deterministic_id
from energychain_shared.ledger_client import signed_append

from energychain_escrow import SERVICE_NAME


def transfers_of(moved: events.EscrowMoved) -> list[Transfer]:
    """The balanced transfers of one movement (docs/CONVENTIONS.md, "Money on the ledger")."""
    m, house, amount = moved.municipality_id, moved.house_id, abs(moved.amount_cents)
    escrow = Accounts.escrow(m)
    if moved.kind == "endowment":
        return [Transfer(debit_account=escrow, credit_account=Accounts.escrow_endowment(m), amount_cents=amount,
                         memo="initial endowment")]
    if moved.kind == "payment_share":
        return [Transfer(debit_account=escrow, credit_account=Accounts.GSA_CASH, amount_cents=amount,
                         memo="municipal share of a payment")]
    if moved.kind == "repayment":
        return [
            Transfer(debit_account=escrow, credit_account=Accounts.GSA_CASH, amount_cents=amount, memo="repayment of escrow"),
            Transfer(debit_account=Accounts.resident_receivable(house), credit_account=Accounts.resident_escrow_debt(house),
                     amount_cents=amount, memo="repayment of escrow"),
        ]
    if moved.kind == "past_due_cover":
        return [
            Transfer(debit_account=Accounts.GSA_CASH, credit_account=escrow, amount_cents=amount, memo="past-due cover"),
            Transfer(debit_account=Accounts.resident_escrow_debt(house), credit_account=Accounts.resident_receivable(house),
                     amount_cents=amount, memo="past-due cover"),
        ]
    if moved.kind == "treasury_rollover":
        return [Transfer(debit_account=Accounts.treasury(m), credit_account=escrow, amount_cents=amount,
                         memo="month-end rollover above the cap")]
    raise ValueError(f"unknown movement kind {moved.kind!r}")


def ledger_entry(key: Ed25519PrivateKey, moved: events.EscrowMoved) -> events.LedgerAppendRequested:
    """The movement on the municipality's channel, and on the resident's where it concerns the resident's debt.

    An entry a resident can read leaves out the escrow account's balance: residents never
    see escrow accounts (the municipality reads the balance from escrow's API and the
    ledger's postings).
    """
    channels = [municipality_channel(moved.municipality_id)]
    hidden = {"event_type", "schema_version", "producer"}
    if moved.kind in ("repayment", "past_due_cover") and moved.house_id:
        channels.append(resident_channel(moved.house_id))
        hidden.add("balance_after_cents")
    return signed_append(
        key=key, producer=SERVICE_NAME, entry_id=deterministic_id("escrow-ledger", moved.movement_id),
        channels=channels, kind=f"escrow_{moved.kind}", occurred_at=moved.occurred_at,
        body=moved.model_dump(mode="json", exclude=hidden), transfers=transfers_of(moved),
    )
