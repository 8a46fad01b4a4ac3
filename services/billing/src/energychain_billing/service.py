"""Billing's use cases over PostgreSQL: record readings, close periods, declare past due, take payments.

Everything billing decides for a house happens under the row lock of the house's
meter.readings partition (table ``progress``), in the transaction that records it,
with the events it implies written to the outbox in that same transaction. A
redelivered batch finds its readings already recorded and its watermark already
passed, so it changes nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from energychain_shared import events, topics
from energychain_shared.channels import Accounts, resident_channel
from energychain_shared.events import Transfer, deterministic_id
from energychain_shared.ledger_client import signed_append
from energychain_shared.pg import OutboxRow, enqueue, outbox_row
from energychain_shared.registry import Registry, Resident

from energychain_billing import SERVICE_NAME
from energychain_billing.domain.invoice import InvoiceDraft, draft_invoice
from energychain_billing.domain.periods import BillingPeriod
from energychain_billing.domain.schedule import Schedule
from energychain_billing.domain.statement import IssuedInvoice, Statement, statement
from energychain_billing.domain.tariff import Tariff
from energychain_billing.settings import BillingSettings

log = logging.getLogger(__name__)
UTC = timezone.utc
NOT_STARTED = datetime(1970, 1, 1, tzinfo=UTC)
BILLING_TOPICS = (topics.INVOICES, topics.PAYMENTS, topics.PAST_DUE)


@dataclass
class BillingContext:
    """What the use cases need: settings, the program registry, the pool and billing's signing key."""

    settings: BillingSettings
    registry: Registry
    pool: asyncpg.Pool
    signing_key: Ed25519PrivateKey

    @cached_property
    def schedules(self) -> dict[str, Schedule]:
        """The billing calendar of each municipality."""
        return {
            m.municipality_id: Schedule(zone=m.zone, grace=self.settings.grace, due_days=self.settings.billing_due_days)
            for m in self.registry.municipalities
        }

    def resident(self, house_id: str) -> Resident | None:
        """The registered resident of ``house_id``, if any."""
        return self.registry.by_house.get(house_id)

    def tariff(self, resident: Resident) -> Tariff:
        """The pricing terms of a resident's contract."""
        contract = resident.contract
        return Tariff(
            rate_usd_per_kwh=contract.rate_usd_per_kwh,
            escalator_percent=contract.escalator_percent,
            start_date=contract.start_date,
            zone=self.schedules[resident.municipality_id].zone,
            basis=contract.billing_basis,
        )

    def outbox(self, topic: topics.Topic, event: events.Event, *, partition: int | None = None) -> OutboxRow:
        """The outbox row publishing ``event`` on billing's name for ``topic``."""
        return outbox_row(self.settings.topic(topic), event, partition=partition)


# ---------------------------------------------------------------- the stream
@dataclass(frozen=True)
class HourRow:
    """One metered house-hour as billing stores it."""

    house_id: str
    interval_start: datetime
    home_wh: int
    solar_wh: int
    grid_import_wh: int
    grid_export_wh: int
    battery_charged_wh: int
    battery_discharged_wh: int

    @classmethod
    def of(cls, reading: events.MeterReadingRecorded) -> HourRow:
        """The stored form of a reading."""
        return cls(
            reading.house_id, reading.interval_start, reading.home_wh, reading.solar_wh, reading.grid_import_wh,
            reading.grid_export_wh, reading.battery_charged_wh, reading.battery_discharged_wh,
        )


@dataclass
class BatchReport:
    """What one partition batch did."""

    readings: int = 0
    unknown_houses: int = 0
    invoices: list[str] = field(default_factory=list)
    past_due: list[str] = field(default_factory=list)
    watermark: datetime | None = None


async def _lock_partition(connection: asyncpg.Connection, partition: int) -> datetime:
    await connection.execute(
        "INSERT INTO progress (partition, watermark) VALUES ($1, $2) ON CONFLICT DO NOTHING", partition, NOT_STARTED
    )
    return await connection.fetchval("SELECT watermark FROM progress WHERE partition = $1 FOR UPDATE", partition)


async def _store_hours(connection: asyncpg.Connection, partition: int, rows: list[HourRow]) -> None:
    if not rows:
        return
    await connection.execute(
        "CREATE TEMP TABLE IF NOT EXISTS incoming_hours (LIKE hourly INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    await connection.copy_records_to_table(
        "incoming_hours",
        records=[(*(getattr(r, f) for f in HourRow.__dataclass_fields__), None) for r in rows],
        columns=[*HourRow.__dataclass_fields__, "invoice_id"],
    )
    await connection.execute(
        "INSERT INTO hourly SELECT * FROM incoming_hours ON CONFLICT (house_id, interval_start) DO NOTHING"
    )
    await connection.execute(
        "INSERT INTO houses (house_id, partition, first_interval) "
        "SELECT house_id, $1, min(interval_start) FROM incoming_hours GROUP BY house_id "
        "ON CONFLICT (house_id) DO UPDATE SET partition = EXCLUDED.partition, "
        "first_interval = least(houses.first_interval, EXCLUDED.first_interval)",
        partition,
    )
    await connection.execute("TRUNCATE incoming_hours")


async def apply_readings_batch(
    ctx: BillingContext, partition: int, batch: Sequence[events.Event]
) -> BatchReport:
    """Record one partition's readings in order and apply its watermarks: closes and due dates on the way."""
    report = BatchReport()
    async with ctx.pool.acquire() as connection, connection.transaction():
        start = watermark = await _lock_partition(connection, partition)
        pending: list[HourRow] = []
        for event in batch:
            if isinstance(event, events.MeterReadingRecorded):
                if ctx.resident(event.house_id) is None:
                    report.unknown_houses += 1
                    continue
                pending.append(HourRow.of(event))
            elif isinstance(event, events.ClockWatermarkReached) and event.sim_time > watermark:
                # Readings before a close must be stored before it, later ones after it: that is
                # what decides whether a reading is on its period's invoice or a late adjustment.
                if any(s.crosses_boundary(watermark, event.sim_time) for s in ctx.schedules.values()):
                    await _store_hours(connection, partition, pending)
                    report.readings += len(pending)
                    pending = []
                    await _advance(ctx, connection, partition, watermark, event.sim_time, report)
                watermark = event.sim_time
        await _store_hours(connection, partition, pending)
        report.readings += len(pending)
        if watermark > start:
            await connection.execute("UPDATE progress SET watermark = $2 WHERE partition = $1", partition, watermark)
            await enqueue(connection, _billing_watermarks(ctx, partition, watermark))
            report.watermark = watermark
    return report


def _billing_watermarks(ctx: BillingContext, partition: int, sim_time: datetime) -> list[OutboxRow]:
    """Billing's progress on ``partition``, in-band on each billing topic, after everything it decided before."""
    event = events.ClockWatermarkReached(
        event_id=deterministic_id("billing-watermark", partition, sim_time.isoformat()),
        occurred_at=sim_time, producer=SERVICE_NAME, sim_time=sim_time, partition=partition,
    )
    return [ctx.outbox(topic, event, partition=partition) for topic in BILLING_TOPICS]


async def _advance(
    ctx: BillingContext, connection: asyncpg.Connection, partition: int, after: datetime, upto: datetime,
    report: BatchReport,
) -> None:
    """Apply, in time order, every period close and due date of the partition's houses in (after, upto]."""
    houses = [
        r["house_id"]
        for r in await connection.fetch("SELECT house_id FROM houses WHERE partition = $1 ORDER BY house_id", partition)
    ]
    # A period that ends before a house's first reading or credit has nothing to bill: start
    # from there, not from the partition's first watermark (which may be the epoch).
    first_data = {
        r["house_id"]: r["first"]
        for r in await connection.fetch(  # per house, so each min() is one step down the primary key
            "SELECT h.house_id, least("
            " (SELECT min(interval_start) FROM hourly WHERE house_id = h.house_id),"
            " (SELECT min(delivery_hour) FROM trade_credits WHERE house_id = h.house_id)) AS first "
            "FROM unnest($1::text[]) AS h(house_id)",
            houses,
        )
        if r["first"] is not None
    }
    closes: list[tuple[datetime, str, BillingPeriod]] = []
    dues: set[tuple[datetime, str]] = set()
    for house_id in houses:
        resident = ctx.resident(house_id)
        if resident is None or house_id not in first_data:
            continue
        schedule = ctx.schedules[resident.municipality_id]
        for period in schedule.periods_closing(max(after, first_data[house_id]), upto):
            closes.append((schedule.issued_at(period), house_id, period))
            if schedule.due_at(period) <= upto:  # issued and due within the same step
                dues.add((schedule.due_at(period), house_id))
    for row in await connection.fetch(
        "SELECT DISTINCT house_id, due_at FROM invoices WHERE house_id = ANY($1::text[]) AND past_due_cents IS NULL "
        "AND due_at > $2 AND due_at <= $3",
        houses, after, upto,
    ):
        dues.add((row["due_at"], row["house_id"]))
    # In time order; at one instant, due dates before closes (a due date never waits for a new invoice).
    steps = [(at, 1, house, period) for at, house, period in closes] + [(at, 0, house, None) for at, house in dues]
    for instant, _, house_id, period in sorted(steps, key=lambda s: (s[0], s[1], s[2])):
        resident = ctx.resident(house_id)
        if period is None:
            report.past_due.extend(await _declare_past_due(ctx, connection, partition, resident, instant))
        elif (invoice_id := await _close_period(ctx, connection, partition, resident, period)) is not None:
            report.invoices.append(invoice_id)


def invoice_id_of(house_id: str, period: BillingPeriod) -> str:
    """Invoice numbers people can read: ``<house>.<YYYY-MM>``."""
    return f"{house_id}.{period.label}"


async def _energy_by_year(
    connection: asyncpg.Connection, tariff: Tariff, house_id: str, period: BillingPeriod
) -> tuple[dict[int, int], dict[int, int]]:
    """Unbilled billed-Wh of the house before the period's end, by contract year: (this period, earlier)."""
    cuts = [period.start]
    years = 1
    while tariff.anniversary(years) < period.end:
        cuts.append(tariff.anniversary(years))
        years += 1
    cuts = sorted(set(cuts))
    billed = "greatest(0, home_wh - grid_import_wh)" if tariff.basis == "delivered" else "home_wh"
    rows = await connection.fetch(
        f"SELECT width_bucket(extract(epoch FROM interval_start)::float8, $3::float8[]) AS bucket, "
        f"min(interval_start) AS first, sum({billed})::bigint AS wh "
        "FROM hourly WHERE house_id = $1 AND invoice_id IS NULL AND interval_start < $2 GROUP BY bucket",
        house_id, period.end, [c.timestamp() for c in cuts],
    )
    current: dict[int, int] = {}
    late: dict[int, int] = {}
    for row in rows:
        year = tariff.contract_year(row["first"])
        target = current if row["first"] >= period.start else late
        target[year] = target.get(year, 0) + int(row["wh"])
    return current, late


async def _close_period(
    ctx: BillingContext, connection: asyncpg.Connection, partition: int, resident: Resident, period: BillingPeriod
) -> str | None:
    """Issue the house's invoice for ``period`` (once); None when there is nothing to bill yet."""
    house_id = resident.house_id
    invoice_id = invoice_id_of(house_id, period)
    if await connection.fetchval("SELECT 1 FROM invoices WHERE invoice_id = $1", invoice_id):
        return None
    tariff = ctx.tariff(resident)
    current, late = await _energy_by_year(connection, tariff, house_id, period)
    # Settlements arrive on another consumer, without this partition's lock: the invoice takes
    # exactly the credits it read (locked), never one committed between this read and the update.
    credits = await connection.fetch(
        "SELECT settlement_id, delivery_hour, credit_cents, refill_wh FROM trade_credits "
        "WHERE house_id = $1 AND invoice_id IS NULL AND delivery_hour < $2 FOR UPDATE",
        house_id, period.end,
    )
    previous = await connection.fetchrow(
        "SELECT count(*) AS n, coalesce(sum(own_charges_cents), 0)::bigint AS own FROM invoices WHERE house_id = $1",
        house_id,
    )
    if not current and not late and not credits and previous["n"] == 0:
        return None
    paid = await connection.fetchval(
        "SELECT coalesce(sum(amount_cents), 0)::bigint FROM payments WHERE house_id = $1", house_id
    )
    refills: dict[int, int] = {}
    for credit in credits:
        year = tariff.contract_year(credit["delivery_hour"])
        refills[year] = refills.get(year, 0) + int(credit["refill_wh"])
    draft = draft_invoice(
        tariff=tariff,
        period_wh_by_year=current,
        late_wh_by_year=late,
        refill_wh_by_year=refills,
        trade_credit_cents=sum(int(c["credit_cents"]) for c in credits),
        balance_forward_cents=int(previous["own"]) - int(paid),
    )
    schedule = ctx.schedules[resident.municipality_id]
    issued_at, due_at = schedule.issued_at(period), schedule.due_at(period)
    lines = [_line_json(line) for line in draft.lines]
    energy_wh = sum(line.energy_wh or 0 for line in draft.lines if line.kind == "ppa_energy")
    await connection.execute(
        "INSERT INTO invoices (invoice_id, house_id, municipality_id, period, period_start, period_end, issued_at, "
        "due_at, new_charges_cents, own_charges_cents, total_cents, energy_wh, lines) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb)",
        invoice_id, house_id, resident.municipality_id, period.label, period.start, period.end, issued_at, due_at,
        draft.new_charges_cents, draft.own_charges_cents, draft.total_cents, energy_wh, json.dumps(lines),
    )
    await connection.execute(
        "UPDATE hourly SET invoice_id = $2 WHERE house_id = $1 AND invoice_id IS NULL AND interval_start < $3",
        house_id, invoice_id, period.end,
    )
    await connection.execute(
        "UPDATE trade_credits SET invoice_id = $2 WHERE settlement_id = ANY($1::text[])",
        [c["settlement_id"] for c in credits], invoice_id,
    )
    issued = events.InvoiceIssued(
        event_id=deterministic_id("invoice-issued", invoice_id),
        occurred_at=issued_at, producer=SERVICE_NAME, invoice_id=invoice_id, house_id=house_id,
        municipality_id=resident.municipality_id, period=period.label, period_start=period.start,
        period_end=period.end, due_at=due_at, lines=tuple(events.InvoiceLine(**line) for line in lines),
        total_cents=draft.total_cents,
    )
    await enqueue(connection, [
        ctx.outbox(topics.INVOICES, issued, partition=partition),
        ctx.outbox(topics.LEDGER_APPENDS, _invoice_entry(ctx.signing_key, issued, draft)),
    ])
    return invoice_id


def _line_json(line) -> dict:
    return {
        "number": line.number, "kind": line.kind, "description": line.description, "energy_wh": line.energy_wh,
        "rate_usd_per_kwh": None if line.rate_usd_per_kwh is None else str(line.rate_usd_per_kwh),
        "amount_cents": line.amount_cents,
    }


def _invoice_entry(key: Ed25519PrivateKey, issued: events.InvoiceIssued, draft: InvoiceDraft):
    """The invoice on the resident's channel: receivable <- revenue for the new charges (reversed if negative)."""
    amount = draft.new_charges_cents
    receivable = Accounts.resident_receivable(issued.house_id)
    transfers = []
    if amount:
        debit, credit = (receivable, Accounts.GSA_REVENUE) if amount > 0 else (Accounts.GSA_REVENUE, receivable)
        transfers.append(Transfer(debit_account=debit, credit_account=credit, amount_cents=abs(amount), memo="new charges"))
    return signed_append(
        key=key, producer=SERVICE_NAME, entry_id=deterministic_id("billing-ledger", "invoice", issued.invoice_id),
        channels=[resident_channel(issued.house_id)], kind="invoice_issued", occurred_at=issued.occurred_at,
        body=issued.model_dump(mode="json", exclude={"event_type", "schema_version", "producer"}),
        transfers=transfers,
    )


async def _issued(connection: asyncpg.Connection, house_id: str) -> list[IssuedInvoice]:
    rows = await connection.fetch(
        "SELECT invoice_id, own_charges_cents, due_at FROM invoices WHERE house_id = $1 ORDER BY issued_at, invoice_id",
        house_id,
    )
    return [IssuedInvoice(r["invoice_id"], int(r["own_charges_cents"]), r["due_at"]) for r in rows]


async def _statement(connection: asyncpg.Connection, house_id: str, now: datetime | None) -> Statement:
    invoices = await _issued(connection, house_id)
    paid = await connection.fetchval(
        "SELECT coalesce(sum(amount_cents), 0)::bigint FROM payments WHERE house_id = $1", house_id
    )
    uninvoiced = await connection.fetchval(
        "SELECT coalesce(sum(credit_cents), 0)::bigint FROM trade_credits WHERE house_id = $1 AND invoice_id IS NULL",
        house_id,
    )
    return statement(invoices, paid_cents=int(paid), uninvoiced_credit_cents=int(uninvoiced), now=now)


async def _declare_past_due(
    ctx: BillingContext, connection: asyncpg.Connection, partition: int, resident: Resident, instant: datetime
) -> list[str]:
    """At ``instant`` (a due date), mark the house's invoices due then: past due if unpaid, settled otherwise."""
    due = await connection.fetch(
        "SELECT invoice_id, due_at FROM invoices WHERE house_id = $1 AND due_at = $2 AND past_due_cents IS NULL",
        resident.house_id, instant,
    )
    if not due:
        return []
    position = await _statement(connection, resident.house_id, instant)
    outstanding = {s.invoice_id: s.outstanding_cents for s in position.invoices}
    declared = []
    for row in due:
        unpaid = outstanding.get(row["invoice_id"], 0)
        await connection.execute(
            "UPDATE invoices SET past_due_cents = $2 WHERE invoice_id = $1", row["invoice_id"], max(0, unpaid)
        )
        if unpaid > 0:
            notice = events.InvoicePastDue(
                event_id=deterministic_id("invoice-past-due", row["invoice_id"]),
                occurred_at=row["due_at"], producer=SERVICE_NAME, invoice_id=row["invoice_id"],
                house_id=resident.house_id, municipality_id=resident.municipality_id, due_at=row["due_at"],
                unpaid_cents=unpaid,
            )
            await enqueue(connection, [ctx.outbox(topics.PAST_DUE, notice, partition=partition)])
            declared.append(row["invoice_id"])
    return declared


async def record_trade_settlements(ctx: BillingContext, settlements: Iterable[events.TradeSettled]) -> int:
    """Keep each settlement's credit and refill for the house's next invoice (a repeat is kept once)."""
    rows = [
        (s.settlement_id, s.house_id, s.delivery_hour, s.credit_cents, s.refill_wh)
        for s in settlements if ctx.resident(s.house_id) is not None
    ]
    if rows:
        async with ctx.pool.acquire() as connection:
            await connection.executemany(
                "INSERT INTO trade_credits (settlement_id, house_id, delivery_hour, credit_cents, refill_wh) "
                "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (settlement_id) DO NOTHING",
                rows,
            )
    return len(rows)


# ---------------------------------------------------------------- payments
class PaymentRefused(Exception):
    """A payment that cannot be taken; ``status`` is the HTTP status, ``field`` the culprit."""

    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.status = status
        self.field = field
        self.message = message


@dataclass(frozen=True)
class PaymentRequest:
    """A validated payment from a resident."""

    house_id: str
    idempotency_key: str
    fingerprint: str
    amount_cents: int
    method: str
    invoice_id: str | None


async def record_payment(ctx: BillingContext, request: PaymentRequest) -> tuple[dict, bool]:
    """Record a payment exactly once per idempotency key; returns (payment, created)."""
    resident = ctx.resident(request.house_id)
    if resident is None:
        raise PaymentRefused(403, "token", "not a resident of the program")
    async with ctx.pool.acquire() as connection, connection.transaction():
        house = await connection.fetchrow(
            "SELECT partition, first_interval FROM houses WHERE house_id = $1", request.house_id
        )
        if house is None:
            raise PaymentRefused(409, "house_id", "billing has not started for this account: no meter readings yet")
        watermark = await _lock_partition(connection, house["partition"])
        existing = await connection.fetchrow(
            "SELECT * FROM payments WHERE house_id = $1 AND idempotency_key = $2", request.house_id,
            request.idempotency_key,
        )
        if existing is not None:
            if existing["fingerprint"] != request.fingerprint:
                raise PaymentRefused(
                    409, "Idempotency-Key", "already used for a different payment (amount, method or invoice)"
                )
            return _payment_json(existing), False
        if request.invoice_id is not None and not await connection.fetchval(
            "SELECT 1 FROM invoices WHERE invoice_id = $1 AND house_id = $2", request.invoice_id, request.house_id
        ):
            raise PaymentRefused(404, "invoice_id", f"no invoice {request.invoice_id!r} on this account")
        received_at = max(watermark, house["first_interval"])
        payment_id = deterministic_id("payment", request.house_id, request.idempotency_key)
        row = await connection.fetchrow(
            "INSERT INTO payments (payment_id, house_id, municipality_id, idempotency_key, fingerprint, invoice_id, "
            "amount_cents, method, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *",
            payment_id, request.house_id, resident.municipality_id, request.idempotency_key, request.fingerprint,
            request.invoice_id, request.amount_cents, request.method, received_at,
        )
        received = events.PaymentReceived(
            event_id=payment_id, occurred_at=received_at, producer=SERVICE_NAME, payment_id=payment_id,
            house_id=request.house_id, municipality_id=resident.municipality_id, invoice_id=request.invoice_id,
            amount_cents=request.amount_cents, method=request.method,
        )
        entry = signed_append(
            key=ctx.signing_key, producer=SERVICE_NAME,
            entry_id=deterministic_id("billing-ledger", "payment", payment_id),
            channels=[resident_channel(request.house_id)], kind="payment_received", occurred_at=received_at,
            body=received.model_dump(mode="json", exclude={"event_type", "schema_version", "producer"}),
            transfers=[Transfer(
                debit_account=Accounts.GSA_CASH, credit_account=Accounts.resident_receivable(request.house_id),
                amount_cents=request.amount_cents, memo=f"payment by {request.method}",
            )],
        )
        await enqueue(connection, [
            ctx.outbox(topics.PAYMENTS, received, partition=house["partition"]),
            ctx.outbox(topics.LEDGER_APPENDS, entry),
        ])
        return _payment_json(row), True


def _payment_json(row) -> dict:
    return {
        "payment_id": row["payment_id"], "house_id": row["house_id"], "invoice_id": row["invoice_id"],
        "amount_cents": int(row["amount_cents"]), "method": row["method"], "received_at": row["received_at"].isoformat(),
    }


# ---------------------------------------------------------------- reads
async def sim_time_of(connection: asyncpg.Connection, house_id: str) -> datetime | None:
    """The simulated clock as billing knows it for the house (its partition's watermark)."""
    value = await connection.fetchval(
        "SELECT p.watermark FROM houses h JOIN progress p USING (partition) WHERE h.house_id = $1", house_id
    )
    return None if value is None or value == NOT_STARTED else value


def _summary(row, status) -> dict:
    return {
        "invoice_id": row["invoice_id"], "period": row["period"], "period_start": row["period_start"].isoformat(),
        "period_end": row["period_end"].isoformat(), "issued_at": row["issued_at"].isoformat(),
        "due_at": row["due_at"].isoformat(), "total_cents": int(row["total_cents"]),
        "new_charges_cents": int(row["new_charges_cents"]), "energy_wh": int(row["energy_wh"]),
        "paid_cents": status.paid_cents, "outstanding_cents": status.outstanding_cents, "status": status.status,
        "past_due": status.past_due,
    }


async def invoices_of(ctx: BillingContext, house_id: str) -> tuple[list[dict], Statement, datetime | None]:
    """Every invoice of the house with what is paid, oldest first, and the house's statement."""
    # One snapshot: an invoice issued meanwhile is in both the statement and the rows, or in neither.
    async with ctx.pool.acquire() as connection, connection.transaction(isolation="repeatable_read", readonly=True):
        now = await sim_time_of(connection, house_id)
        position = await _statement(connection, house_id, now)
        rows = await connection.fetch(
            "SELECT * FROM invoices WHERE house_id = $1 ORDER BY issued_at, invoice_id", house_id
        )
    by_id = {s.invoice_id: s for s in position.invoices}
    return [_summary(r, by_id[r["invoice_id"]]) for r in rows], position, now


async def invoice_detail(ctx: BillingContext, house_id: str, invoice_id: str) -> dict | None:
    """One invoice with its lines, or None when it is not this house's."""
    summaries, _, _ = await invoices_of(ctx, house_id)
    summary = next((s for s in summaries if s["invoice_id"] == invoice_id), None)
    if summary is None:
        return None
    async with ctx.pool.acquire() as connection:
        lines = await connection.fetchval("SELECT lines FROM invoices WHERE invoice_id = $1", invoice_id)
    return {**summary, "lines": json.loads(lines)}


async def payments_of(ctx: BillingContext, house_id: str) -> list[dict]:
    """The house's payments, oldest first."""
    async with ctx.pool.acquire() as connection:
        rows = await connection.fetch(
            "SELECT * FROM payments WHERE house_id = $1 ORDER BY received_at, recorded_at", house_id
        )
    return [_payment_json(r) for r in rows]


async def account_rows(ctx: BillingContext, residents: Sequence[Resident]) -> list[dict]:
    """Balance and past-due status of each resident."""
    out = []
    async with ctx.pool.acquire() as connection:
        for resident in residents:
            now = await sim_time_of(connection, resident.house_id)
            position = await _statement(connection, resident.house_id, now)
            last = await connection.fetchval(
                "SELECT period FROM invoices WHERE house_id = $1 ORDER BY issued_at DESC LIMIT 1", resident.house_id
            )
            out.append({
                "house_id": resident.house_id, "name": resident.name, "address": resident.address,
                "municipality_id": resident.municipality_id, "balance_cents": position.balance_cents,
                "past_due": position.past_due, "past_due_cents": position.past_due_cents,
                "last_invoice_period": last,
            })
    return out


USAGE_COLUMNS = ("home_wh", "solar_wh", "grid_import_wh", "grid_export_wh", "battery_charged_wh", "battery_discharged_wh")


async def usage(
    ctx: BillingContext, resident: Resident, *, start: datetime, end: datetime, granularity: str
) -> list[dict]:
    """Metered energy of the house in [start, end) by hour, or by local day or month."""
    zone = ctx.schedules[resident.municipality_id].zone.key
    billed = "greatest(0, home_wh - grid_import_wh)" if resident.contract.billing_basis == "delivered" else "home_wh"
    bucket = (
        "interval_start" if granularity == "hour"
        else f"(date_trunc('{granularity}', interval_start AT TIME ZONE $4) AT TIME ZONE $4)"
    )
    sums = ", ".join(f"sum({c})::bigint AS {c}" for c in USAGE_COLUMNS)
    query = (
        f"SELECT {bucket} AS start, {sums}, sum({billed})::bigint AS billed_wh FROM hourly "
        "WHERE house_id = $1 AND interval_start >= $2 AND interval_start < $3 "
        + ("AND $4::text IS NOT NULL " if granularity == "hour" else "")
        + "GROUP BY 1 ORDER BY 1"
    )
    async with ctx.pool.acquire() as connection:
        rows = await connection.fetch(query, resident.house_id, start, end, zone)
    return [{"start": r["start"].isoformat(), **{c: int(r[c]) for c in (*USAGE_COLUMNS, "billed_wh")}} for r in rows]
