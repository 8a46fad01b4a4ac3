"""Use case: take a resident's payment exactly once per idempotency key, on the ledger and the payments topic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from energychain_shared import events, topics
from energychain_shared.events import deterministic_id
from energychain_shared.outbox import enqueue

from energychain_billing import SERVICE_NAME
from energychain_billing.adapters import repository
from energychain_billing.context import BillingContext
from energychain_billing.domain.payments import BillingNotStarted, IdempotencyKeyReused, NotAResident, UnknownInvoice
from energychain_billing.ledger_entries import payment_entry


@dataclass(frozen=True)
class PaymentRequest:
    """A validated payment from a resident."""

    house_id: str
    idempotency_key: str
    fingerprint: str
    amount_cents: int
    method: str
    invoice_id: str | None


async def record_payment(ctx: BillingContext, request: PaymentRequest) -> tuple[dict[str, Any], bool]:
    """Record a payment exactly once per idempotency key; returns (payment, created).

    The payment is received at the simulated time of the house's partition, under that
    partition's lock, so it never interleaves with a period close of the same house.
    """
    resident = ctx.resident(request.house_id)
    if resident is None:
        raise NotAResident("token", "not a resident of the program")
    async with ctx.engine.begin() as connection:
        house = await repository.house(connection, request.house_id)
        if house is None:
            raise BillingNotStarted("house_id", "billing has not started for this account: no meter readings yet")
        watermark = await repository.lock_partition(connection, house.partition)
        existing = await repository.payment_by_key(connection, request.house_id, request.idempotency_key)
        if existing is not None:
            if existing.fingerprint != request.fingerprint:
                raise IdempotencyKeyReused(
                    "Idempotency-Key", "already used for a different payment (amount, method or invoice)"
                )
            return payment_json(existing), False
        if request.invoice_id is not None and not await repository.has_invoice(
            connection, request.house_id, request.invoice_id
        ):
            raise UnknownInvoice("invoice_id", f"no invoice {request.invoice_id!r} on this account")
        received_at = max(watermark, house.first_interval)
        payment_id = deterministic_id("payment", request.house_id, request.idempotency_key)
        municipality_id = ctx.municipality_at(resident, received_at)  # moved: the share goes to the new escrow
        row = await repository.insert_payment(connection, {
            "payment_id": payment_id, "house_id": request.house_id, "municipality_id": municipality_id,
            "idempotency_key": request.idempotency_key, "fingerprint": request.fingerprint,
            "invoice_id": request.invoice_id, "amount_cents": request.amount_cents, "method": request.method,
            "received_at": received_at,
        })
        received = events.PaymentReceived(
            event_id=payment_id, occurred_at=received_at, producer=SERVICE_NAME, payment_id=payment_id,
            house_id=request.house_id, municipality_id=municipality_id, invoice_id=request.invoice_id,
            amount_cents=request.amount_cents, method=request.method,
        )
        await enqueue(connection, [
            ctx.outbox(topics.PAYMENTS, received, partition=house.partition),
            ctx.outbox(topics.LEDGER_APPENDS, payment_entry(ctx.signing_key, received)),
        ])
        return payment_json(row), True


def payment_json(row: Any) -> dict[str, Any]:
    """A stored payment as the API shows it."""
    return {
        "payment_id": row.payment_id, "house_id": row.house_id, "invoice_id": row.invoice_id,
        "amount_cents": int(row.amount_cents), "method": row.method, "received_at": row.received_at.isoformat(),
    }
