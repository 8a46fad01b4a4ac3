"""Escrow's use cases over PostgreSQL: take billing's events in, apply them in event-time order, read views.

Billing's events arrive on three topics and twelve partitions in any interleaving. Escrow
stores each once (the inbox) with billing's per-partition watermarks, and applies to a
municipality's book only what lies at or before the lowest watermark, sorted by event
time: so the history is the same whatever the arrival order, redelivery or restarts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from energychain_shared import events, topics
from energychain_shared.events import deterministic_id
from energychain_shared.pg import OutboxRow, enqueue, outbox_row
from energychain_shared.registry import Municipality, Registry

from energychain_escrow import SERVICE_NAME
from energychain_escrow.domain.book import EscrowBook, Terms, month_label
from energychain_escrow.domain.timeline import Fact, apply, next_month
from energychain_escrow.ledger_entries import ledger_entry
from energychain_escrow.settings import EscrowSettings

log = logging.getLogger(__name__)
UTC = timezone.utc
INPUT_TOPICS = (topics.INVOICES, topics.PAYMENTS, topics.PAST_DUE)


def terms_of(municipality: Municipality) -> Terms:
    """A registered municipality's escrow terms as the domain's value object."""
    escrow = municipality.escrow
    return Terms(escrow.endowment_cents, escrow.share_percent, escrow.cap_cents)


@dataclass
class EscrowContext:
    """What the use cases need: settings, the registry, the pool and escrow's signing key."""

    settings: EscrowSettings
    registry: Registry
    pool: asyncpg.Pool
    signing_key: Ed25519PrivateKey
    _starts: dict[str, date] | None = field(default=None, init=False, repr=False)

    def municipality(self, municipality_id: str) -> Municipality | None:
        """The registered municipality, if any."""
        return self.registry.by_municipality.get(municipality_id)

    def terms(self, municipality: Municipality) -> Terms:
        """The municipality's escrow terms."""
        return terms_of(municipality)

    def program_start(self, municipality: Municipality) -> datetime | None:
        """Local midnight of the earliest contract start among the municipality's residents (the endowment)."""
        if self._starts is None:
            earliest: dict[str, date] = {}
            for resident in self.registry.residents:
                day = resident.contract.start_date
                earliest[resident.municipality_id] = min(day, earliest.get(resident.municipality_id, day))
            self._starts = earliest
        first = self._starts.get(municipality.municipality_id)
        if first is None:
            return None
        return datetime.combine(first, time(0), tzinfo=municipality.zone).astimezone(UTC)

    def input_topics(self) -> list[str]:
        """Billing's topics under this installation's prefix."""
        return [self.settings.topic(t) for t in INPUT_TOPICS]


# ------------------------------------------------------------------ ingest
def _inbox_row(event: events.Event) -> tuple | None:
    # (event id, municipality, kind, event time, house, invoice, amount, the event as received)
    if isinstance(event, events.PaymentReceived):
        fact = ("payment", event.occurred_at, event.amount_cents)
    elif isinstance(event, events.InvoicePastDue):
        fact = ("past_due", event.due_at, event.unpaid_cents)
    elif isinstance(event, events.InvoiceIssued):
        fact = ("invoice", event.occurred_at, event.total_cents)
    else:
        return None
    kind, at, amount = fact
    return (event.event_id, event.municipality_id, kind, at, event.house_id, event.invoice_id, amount,
            event.model_dump_json())


async def ingest(ctx: EscrowContext, topic: str, partition: int, batch: Sequence[events.Event]) -> int:
    """Keep one partition's billing events (once each) and its latest watermark; returns the events kept."""
    rows = [row for row in map(_inbox_row, batch) if row is not None]
    marks = [e.sim_time for e in batch if isinstance(e, events.ClockWatermarkReached)]
    async with ctx.pool.acquire() as connection, connection.transaction():
        if rows:
            await connection.executemany(
                "INSERT INTO inbox (event_id, municipality_id, kind, occurred_at, house_id, invoice_id, amount_cents, "
                "payload) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb) ON CONFLICT (event_id) DO NOTHING",
                rows,
            )
        if marks:
            await connection.execute(
                "INSERT INTO watermarks (topic, partition, sim_time) VALUES ($1, $2, $3) ON CONFLICT (topic, partition) "
                "DO UPDATE SET sim_time = greatest(watermarks.sim_time, EXCLUDED.sim_time)",
                topic, partition, max(marks),
            )
    return len(rows)


async def global_watermark(ctx: EscrowContext, connection: asyncpg.Connection) -> datetime | None:
    """The lowest of billing's watermarks over every partition of its three topics (None until all are known)."""
    names = ctx.input_topics()
    row = await connection.fetchrow(
        "SELECT count(*) AS n, min(sim_time) AS low FROM watermarks WHERE topic = ANY($1::text[])", names
    )
    expected = sum(t.partitions for t in INPUT_TOPICS)
    return row["low"] if row["n"] == expected else None


# ------------------------------------------------------------------ process
async def process(ctx: EscrowContext) -> int:
    """Apply every municipality's ready facts; returns the movements made."""
    made = 0
    async with ctx.pool.acquire() as connection:
        upto = await global_watermark(ctx, connection)
        if upto is None:
            return 0
        for municipality in ctx.registry.municipalities:
            async with connection.transaction():
                made += await _process_municipality(ctx, connection, municipality, upto)
    return made


async def _process_municipality(
    ctx: EscrowContext, connection: asyncpg.Connection, municipality: Municipality, upto: datetime
) -> int:
    m = municipality.municipality_id
    start = ctx.program_start(municipality)
    if start is None:
        return 0
    # One instance at a time per municipality, whichever process runs it.
    await connection.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"escrow-book:{m}")
    await connection.execute(
        "INSERT INTO books (municipality_id, state) VALUES ($1, '{}'::jsonb) ON CONFLICT DO NOTHING", m
    )
    saved = await connection.fetchrow("SELECT state::text AS state, processed_until FROM books WHERE municipality_id = $1", m)
    rows = await connection.fetch(
        "SELECT * FROM inbox WHERE municipality_id = $1 AND NOT applied AND occurred_at <= $2", m, upto
    )
    if not rows and saved["processed_until"] is not None and saved["processed_until"] >= upto:
        return 0
    book = EscrowBook.from_json(ctx.terms(municipality), json.loads(saved["state"]) or None)
    facts = [
        Fact(at=r["occurred_at"], kind=r["kind"], event_id=r["event_id"], house_id=r["house_id"],
             amount_cents=int(r["amount_cents"]), invoice_id=r["invoice_id"])
        for r in rows
    ]
    movements = apply(book, facts, zone=municipality.zone, program_start=start, upto=upto)
    outbox: list[OutboxRow] = []
    rows_out: list[tuple] = []
    for movement in movements:
        movement_id = deterministic_id("escrow-movement", m, movement.kind, movement.key)
        rows_out.append((movement_id, m, movement.kind, movement.amount_cents, movement.balance_after_cents,
                         movement.occurred_at, movement.month, movement.house_id, movement.invoice_id))
        moved = events.EscrowMoved(
            event_id=movement_id, occurred_at=movement.occurred_at, producer=SERVICE_NAME, movement_id=movement_id,
            municipality_id=m, kind=movement.kind, amount_cents=movement.amount_cents,
            balance_after_cents=movement.balance_after_cents, house_id=movement.house_id,
            invoice_id=movement.invoice_id,
        )
        outbox.append(outbox_row(ctx.settings.topic(topics.ESCROW_MOVEMENTS), moved))
        outbox.append(outbox_row(ctx.settings.topic(topics.LEDGER_APPENDS), ledger_entry(ctx.signing_key, moved)))
    # Inserted in the book's order: seq keeps the history's order for the views.
    await connection.executemany(
        "INSERT INTO movements (movement_id, municipality_id, kind, amount_cents, balance_after_cents, occurred_at, "
        "month, house_id, invoice_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        rows_out,
    )
    await enqueue(connection, outbox)
    if rows:
        await connection.execute("UPDATE inbox SET applied = true WHERE event_id = ANY($1::text[])", [r["event_id"] for r in rows])
    await connection.execute(
        "UPDATE books SET state = $2::jsonb, processed_until = greatest(processed_until, $3) WHERE municipality_id = $1",
        m, json.dumps(book.to_json()), upto,
    )
    return len(movements)


# ------------------------------------------------------------------ reads
def _movement_json(row) -> dict:
    return {
        "movement_id": row["movement_id"], "occurred_at": row["occurred_at"].isoformat(), "month": row["month"],
        "kind": row["kind"], "amount_cents": int(row["amount_cents"]),
        "balance_after_cents": int(row["balance_after_cents"]), "house_id": row["house_id"],
        "invoice_id": row["invoice_id"],
    }


async def summary(ctx: EscrowContext, municipality: Municipality) -> dict:
    """Balance, terms, what went to the treasury, and how far escrow has processed."""
    async with ctx.pool.acquire() as connection:
        book = await connection.fetchrow(
            "SELECT state::text AS state, processed_until FROM books WHERE municipality_id = $1",
            municipality.municipality_id,
        )
        treasury = await connection.fetchval(
            "SELECT coalesce(-sum(amount_cents), 0)::bigint FROM movements "
            "WHERE municipality_id = $1 AND kind = 'treasury_rollover'",
            municipality.municipality_id,
        )
    state = json.loads(book["state"]) if book else {}
    terms = ctx.terms(municipality)
    return {
        "municipality_id": municipality.municipality_id, "name": municipality.name,
        "balance_cents": state.get("balance_cents", 0), "cap_cents": terms.cap_cents,
        "share_percent": str(terms.share_percent), "endowment_cents": terms.endowment_cents,
        "treasury_total_cents": int(treasury),
        "processed_until": None if not book or book["processed_until"] is None else book["processed_until"].isoformat(),
    }


async def movements(
    ctx: EscrowContext, municipality: Municipality, *, start: datetime | None = None, end: datetime | None = None,
    kinds: Sequence[str] | None = None,
) -> list[dict]:
    """Movements in [start, end), oldest first."""
    async with ctx.pool.acquire() as connection:
        rows = await connection.fetch(
            "SELECT * FROM movements WHERE municipality_id = $1 AND ($2::timestamptz IS NULL OR occurred_at >= $2) "
            "AND ($3::timestamptz IS NULL OR occurred_at < $3) AND ($4::text[] IS NULL OR kind = ANY($4)) ORDER BY seq",
            municipality.municipality_id, start, end, None if kinds is None else list(kinds),
        )
    return [_movement_json(r) for r in rows]


async def monthly(ctx: EscrowContext, municipality: Municipality, *, first: str | None, last: str | None) -> list[dict]:
    """Escrow by month: opening, each kind of movement, closing; cover_event marks months with past-due cover."""
    rows = await movements(ctx, municipality)
    info = await summary(ctx, municipality)
    if not rows:
        return []
    kinds = ("payment_share", "repayment", "past_due_cover", "treasury_rollover", "endowment")
    processed = info["processed_until"]
    final = max(rows[-1]["month"], month_label(datetime.fromisoformat(processed).astimezone(municipality.zone))) \
        if processed else rows[-1]["month"]
    by_month: dict[str, list[dict]] = {}
    for row in rows:
        by_month.setdefault(row["month"], []).append(row)
    out, balance, month = [], 0, rows[0]["month"]
    while month <= final:
        moved = by_month.get(month, [])
        sums = {k: sum(abs(r["amount_cents"]) for r in moved if r["kind"] == k) for k in kinds}
        opening = balance
        balance = moved[-1]["balance_after_cents"] if moved else balance
        if (first is None or month >= first) and (last is None or month <= last):
            out.append({
                "month": month, "opening_cents": opening, **{f"{k}_cents": v for k, v in sums.items()},
                "closing_cents": balance, "cover_event": sums["past_due_cover"] > 0,
            })
        month = next_month(month)
    return out


async def past_due(ctx: EscrowContext, municipality: Municipality) -> list[dict]:
    """Residents' invoices currently past due, what escrow covered, what it could not, what they owe escrow."""
    async with ctx.pool.acquire() as connection:
        state = await connection.fetchval(
            "SELECT state::text FROM books WHERE municipality_id = $1", municipality.municipality_id
        )
    book = EscrowBook.from_json(ctx.terms(municipality), json.loads(state) if state else None)
    return [
        {
            "house_id": i.house_id, "invoice_id": i.invoice_id, "due_at": i.due_at.isoformat(),
            "unpaid_cents": i.outstanding_cents, "unpaid_at_due_cents": i.unpaid_at_due_cents,
            "covered_cents": i.covered_cents, "shortfall_cents": i.shortfall_cents,
            "escrow_debt_cents": book.debts.get(i.house_id, 0),
        }
        for i in book.past_due
    ]
