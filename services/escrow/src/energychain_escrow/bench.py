"""Benchmark: a generated fleet's year of billing events through escrow's inbox and books.

Runs in its own schema ``escrow_bench`` of the configured database (emptied here), so it
never touches escrow's real state. Kafka is not needed: the events go straight to the
ingest use case (what the worker does after decoding a poll), and the EscrowMoved events
and ledger appends stay in the outbox, whose rows are part of what processing persists.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncEngine

from energychain_shared import db, events, migrations, topics
from energychain_shared.registry import Contract, Municipality, Registry, Resident

from energychain_escrow.adapters import repository
from energychain_escrow.books import process
from energychain_escrow.context import INPUT_TOPICS, EscrowContext, terms_of
from energychain_escrow.domain.book import EscrowBook
from energychain_escrow.domain.timeline import Fact, apply, month_end
from energychain_escrow.inbox import ingest
from energychain_escrow.settings import EscrowSettings

BENCH_SCHEMA = "escrow_bench"
UTC = timezone.utc
LA = ZoneInfo("America/Los_Angeles")
START = date(2021, 1, 1)


def generated_registry(houses: int, *, municipalities: int) -> Registry:
    """A synthetic fleet spread over municipalities, every contract starting on 1 January 2021."""
    towns = tuple(Municipality(municipality_id=f"bench-m{m:02d}", name=f"Bench Town {m}") for m in range(municipalities))
    contract = Contract(rate_usd_per_kwh="0.23", battery_wh=13_500, reserve_wh=2_000, start_date=START)
    residents = tuple(
        Resident(house_id=f"bench-h{n:05d}", username=f"bench{n:05d}", name=f"Bench Resident {n}",
                 address=f"{n} Bench St", municipality_id=towns[n % municipalities].municipality_id, contract=contract)
        for n in range(houses)
    )
    return Registry(municipalities=towns, residents=residents)


def generated_billing(registry: Registry, *, months: int, seed: int = 1) -> list[tuple[topics.Topic, events.Event]]:
    """A year of billing per house: an invoice each month, paid on the 10th; one house in ten skips two months."""
    rng = random.Random(seed)
    out: list[tuple[topics.Topic, events.Event]] = []
    for resident in registry.residents:
        h, m = resident.house_id, resident.municipality_id
        owed = 0
        for k in range(months):
            label = f"{2021 + k // 12}-{k % 12 + 1:02d}"
            start = datetime(2021 + k // 12, k % 12 + 1, 1, tzinfo=LA).astimezone(UTC)
            end = month_end(label, LA)
            total = rng.randint(4_000, 30_000)
            invoice_id = f"{h}.{label}"
            out.append((topics.INVOICES, events.InvoiceIssued(
                event_id=events.deterministic_id("bench-invoice", invoice_id), occurred_at=end + timedelta(hours=1),
                producer="billing", invoice_id=invoice_id, house_id=h, municipality_id=m, period=label,
                period_start=start, period_end=end, due_at=end + timedelta(days=23), lines=(), total_cents=total,
            )))
            owed += total
            if int(h[-5:]) % 10 == 0 and k % 6 in (2, 3):
                out.append((topics.PAST_DUE, events.InvoicePastDue(
                    event_id=events.deterministic_id("bench-past-due", invoice_id), occurred_at=end + timedelta(days=23),
                    producer="billing", invoice_id=invoice_id, house_id=h, municipality_id=m,
                    due_at=end + timedelta(days=23), unpaid_cents=total,
                )))
                continue
            paid_at = end + timedelta(days=9)
            out.append((topics.PAYMENTS, events.PaymentReceived(
                event_id=events.deterministic_id("bench-payment", invoice_id), occurred_at=paid_at, producer="billing",
                payment_id=events.deterministic_id("bench-payment", invoice_id), house_id=h, municipality_id=m,
                invoice_id=invoice_id, amount_cents=owed, method="ach",
            )))
            owed = 0
    return out


def _facts(billing: list[tuple[topics.Topic, events.Event]]) -> dict[str, list[Fact]]:
    facts: dict[str, list[Fact]] = defaultdict(list)
    for _topic, e in billing:
        if isinstance(e, events.PaymentReceived):
            facts[e.municipality_id].append(Fact(e.occurred_at, "payment", e.event_id, e.house_id, e.amount_cents))
        elif isinstance(e, events.InvoicePastDue):
            facts[e.municipality_id].append(
                Fact(e.due_at, "past_due", e.event_id, e.house_id, e.unpaid_cents, e.invoice_id))
    return facts


async def run_bench(
    settings: EscrowSettings, *, houses: int, months: int, municipalities: int, schema: str = BENCH_SCHEMA,
    quiet: bool = False,
) -> dict:
    """Generate, ingest, process (checked against the pure rules); print and return the figures."""
    settings = settings.model_copy(update={"escrow_db_schema": schema})
    registry = generated_registry(houses, municipalities=municipalities)
    billing = generated_billing(registry, months=months)
    upto = month_end(f"{2021 + (months - 1) // 12}-{(months - 1) % 12 + 1:02d}", LA) + timedelta(days=40)

    # Pure rules alone: every municipality's year in memory.
    facts = _facts(billing)
    began = time.perf_counter()
    pure: dict[str, tuple[int, int]] = {}  # municipality -> (movements, final balance)
    for m in registry.municipalities:
        book = EscrowBook(terms_of(m))
        history = apply(book, facts[m.municipality_id], zone=m.zone,
                     program_start=datetime(2021, 1, 1, tzinfo=m.zone).astimezone(UTC), upto=upto)
        pure[m.municipality_id] = (len(history), book.balance_cents)
    pure_seconds = time.perf_counter() - began

    ctx = EscrowContext(settings=settings, registry=registry, engine=await _fresh_schema(settings, schema),
                        signing_key=Ed25519PrivateKey.generate())
    try:
        # Ingest as the worker would after decoding polls: per (topic, partition), in chunks of a poll's size.
        by_partition: dict[tuple[str, int], list[events.Event]] = defaultdict(list)
        for topic, event in billing:
            by_partition[(settings.topic(topic), sum(event.house_id.encode()) % topic.partitions)].append(event)
        began = time.perf_counter()
        for (topic, partition), batch in by_partition.items():
            for i in range(0, len(batch), settings.escrow_batch):
                await ingest(ctx, topic, partition, batch[i:i + settings.escrow_batch])
        ingest_seconds = time.perf_counter() - began
        for topic in INPUT_TOPICS:
            for p in range(topic.partitions):
                mark = events.ClockWatermarkReached(event_id=f"bench-mark-{topic.name}-{p}", occurred_at=upto,
                                                    producer="billing", sim_time=upto, partition=p)
                await ingest(ctx, settings.topic(topic), p, [mark])
        began = time.perf_counter()
        made = await process(ctx)
        process_seconds = time.perf_counter() - began
        async with ctx.engine.connect() as connection:
            outbox = await repository.outbox_size(connection)
            stored = await repository.books_at_a_glance(connection)
    finally:
        await ctx.close()
    if stored != pure:  # the database path must make exactly the pure history
        raise RuntimeError(f"escrow through the database differs from the pure rules: {stored} != {pure}")
    figures = {
        "houses": houses, "municipalities": municipalities, "months": months, "billing_events": len(billing),
        "movements": made, "outbox_rows": outbox,
        "final_balance_cents": sum(balance for _n, balance in pure.values()),
        "pure_seconds": round(pure_seconds, 3), "ingest_seconds": round(ingest_seconds, 3),
        "ingest_events_per_s": round(len(billing) / ingest_seconds), "process_seconds": round(process_seconds, 3),
        "process_movements_per_s": round(made / process_seconds) if process_seconds else None,
    }
    for key, value in figures.items():
        if not quiet:
            print(f"{key:>24}: {value}")
    return figures


async def _fresh_schema(settings: EscrowSettings, schema: str) -> AsyncEngine:
    """An engine on ``schema``, emptied and migrated to the head revision."""
    engine = db.make_engine(settings, schema=schema, pool_size=4)
    async with engine.begin() as connection:
        await repository.drop_schema(connection, schema)
    await migrations.upgrade_async(settings, package="energychain_escrow", schema=schema)
    return engine
