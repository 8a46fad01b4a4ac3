"""Escrow through the real broker and database: the test plays billing, publishing its events and watermarks.

Two municipalities, alpha and beta, with a low cap so rollovers happen. Amounts below are
worked out by hand from PRODUCT.md's rules, step by step.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from datetime import date, datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import func, select

from energychain_shared import db, events, keys, topics
from energychain_shared.auth import Principal, Role, issue_token
from energychain_shared.channels import Accounts, municipality_channel, resident_channel
from energychain_shared.kafka import ensure_topics, make_producer

from energychain_escrow.adapters import repository
from energychain_escrow.adapters.tables import books
from energychain_escrow.api import create_app
from energychain_escrow.bootstrap import build_context
from energychain_escrow.context import INPUT_TOPICS, EscrowContext
from energychain_escrow.settings import EscrowSettings
from energychain_escrow.worker import run_worker

pytestmark = pytest.mark.integration
UTC = timezone.utc
END = datetime(2021, 11, 2, tzinfo=UTC)


def registry() -> dict:
    terms = {"endowment_cents": 100_000, "share_percent": "5", "cap_cents": 100_500}
    contract = {"rate_usd_per_kwh": "0.23", "battery_wh": 10_000, "reserve_wh": 2_000, "start_date": "2021-07-01"}
    return {
        "municipalities": [
            {"municipality_id": "alpha", "name": "Alpha", "escrow": terms},
            {"municipality_id": "beta", "name": "Beta", "escrow": terms},
        ],
        "residents": [
            {"house_id": "a1", "username": "ann", "name": "Ann", "address": "1 A St", "municipality_id": "alpha",
             "contract": contract},
            {"house_id": "b1", "username": "bob", "name": "Bob", "address": "1 B St", "municipality_id": "beta",
             "contract": contract},
        ],
    }


def payment(house: str, municipality: str, cents: int, at: datetime) -> events.PaymentReceived:
    pid = events.deterministic_id("test-payment", house, at.isoformat())
    return events.PaymentReceived(event_id=pid, occurred_at=at, producer="billing", payment_id=pid, house_id=house,
                                  municipality_id=municipality, invoice_id=None, amount_cents=cents, method="ach")


def past_due(house: str, municipality: str, invoice: str, cents: int, due: datetime) -> events.InvoicePastDue:
    return events.InvoicePastDue(event_id=events.deterministic_id("test-past-due", invoice), occurred_at=due,
                                 producer="billing", invoice_id=invoice, house_id=house, municipality_id=municipality,
                                 due_at=due, unpaid_cents=cents)


BILLING = [
    (topics.PAYMENTS, payment("a1", "alpha", 10_000, datetime(2021, 7, 10, tzinfo=UTC))),  # share 500
    (topics.PAYMENTS, payment("a1", "alpha", 2_000, datetime(2021, 8, 5, tzinfo=UTC))),  # share 100
    (topics.PAST_DUE, past_due("a1", "alpha", "a1.2021-08", 150_000, datetime(2021, 9, 24, 7, tzinfo=UTC))),
    (topics.PAYMENTS, payment("a1", "alpha", 120_000, datetime(2021, 10, 5, tzinfo=UTC))),
    (topics.PAYMENTS, payment("b1", "beta", 3_333, datetime(2021, 7, 15, tzinfo=UTC))),  # share 166.65 -> 167
]
# alpha, by hand: endowment 100,000 (1 July); +500 -> 100,500; July end: at the cap, nothing rolls over;
# +100 -> 100,600; August end: 100 to the treasury -> 100,500; the past-due invoice of 150,000 is
# covered as far as escrow holds: -100,500 -> 0 (shortfall 49,500); the payment of 120,000 first
# repays the 100,500 debt, then 5 % of 19,500 = 975 -> 101,475; October end: 975 rolls over -> 100,500.
ALPHA = [
    ("endowment", 100_000, 100_000), ("payment_share", 500, 100_500), ("payment_share", 100, 100_600),
    ("treasury_rollover", -100, 100_500), ("past_due_cover", -100_500, 0), ("repayment", 100_500, 100_500),
    ("payment_share", 975, 101_475), ("treasury_rollover", -975, 100_500),
]
ALPHA_MONTHS = {"2021-07": 100_500, "2021-08": 100_500, "2021-09": 0, "2021-10": 100_500, "2021-11": 100_500}
BETA = [("endowment", 100_000, 100_000), ("payment_share", 167, 100_167)]


class Billing:
    """Publishes billing's events on their house's partition, then billing watermarks on every partition."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self.producer = make_producer(settings, client_id="escrow-test-billing")

    async def send(self, items, *, watermark: datetime, rng: random.Random | None = None) -> None:
        items = list(items)
        if rng:
            rng.shuffle(items)
        for topic, event in items:
            partition = sum(event.house_id.encode()) % topic.partitions
            await (await self.producer.send(self.settings.topic(topic), events.encode(event), partition=partition))
        for topic in INPUT_TOPICS:
            for p in range(topic.partitions):
                mark = events.ClockWatermarkReached(
                    event_id=events.deterministic_id("test-billing-watermark", p, watermark.isoformat()),
                    occurred_at=watermark, producer="billing", sim_time=watermark, partition=p,
                )
                await (await self.producer.send(self.settings.topic(topic), events.encode(mark), partition=p))


async def make_settings(infrastructure, migrated, tmp_path, prefix: str) -> EscrowSettings:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "registry.json").write_text(json.dumps(registry()))
    keys_dir = tmp_path / "keys"
    for name in ("escrow", keys.TOKEN_KEY):
        keys.ensure_key_pair(keys_dir, name)
    tag = uuid.uuid4().hex[:8]
    settings = EscrowSettings(**{
        **infrastructure.model_dump(), "topic_prefix": prefix, "keys_dir": keys_dir,
        "registry_path": tmp_path / "registry.json", "escrow_db_schema": f"escrow_test_{tag}",
        "escrow_group": f"escrow-test-{tag}",
    })
    return await migrated(settings)


async def movements_of(settings, municipality: str) -> list[tuple]:
    engine = db.make_engine(settings, schema=settings.escrow_db_schema, pool_size=1)
    try:
        async with engine.connect() as connection:
            rows = await repository.movements_of(connection, municipality)
    finally:
        await engine.dispose()
    return [(r.movement_id, r.kind, r.amount_cents, r.balance_after_cents) for r in rows]


async def books_settled(ctx: EscrowContext) -> int:
    """How many books have been processed up to END."""
    async with ctx.engine.connect() as connection:
        return (await connection.execute(select(func.count()).where(books.c.processed_until >= END))).scalar_one()


async def run_until_settled(settings, *, interruptions: random.Random | None = None) -> None:
    """Run the worker until both books reach END; with ``interruptions``, cancel and restart it at random."""
    deadline = asyncio.get_running_loop().time() + 90
    restarts = 0
    while True:
        ctx = await build_context(settings, pool_size=3)
        producer = make_producer(settings, client_id="escrow-test")
        await producer.start()
        stop = asyncio.Event()
        task = asyncio.create_task(run_worker(ctx, producer, stop))
        try:
            while asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(interruptions.uniform(0.2, 1.5) if interruptions and restarts < 4 else 0.3)
                if interruptions and restarts < 4:
                    task.cancel()  # as abrupt as it gets in-process: no stop, no final commit
                    restarts += 1
                    break
                if await books_settled(ctx) == 2:
                    return
            else:
                raise AssertionError("escrow did not settle in 90 s")
        finally:
            if not task.done():
                stop.set()
            await asyncio.gather(task, return_exceptions=True)
            await producer.stop()
            await ctx.close()


@pytest.fixture
async def published(infrastructure, tmp_path):
    """Billing's events of the scenario on topics of their own; returns the topic prefix."""
    prefix = f"{infrastructure.topic_prefix}esc-{uuid.uuid4().hex[:6]}."
    settings = infrastructure.model_copy(update={"topic_prefix": prefix})
    await ensure_topics(settings)
    billing = Billing(settings)
    await billing.producer.start()
    await billing.send(BILLING[:2], watermark=datetime(2021, 8, 20, tzinfo=UTC), rng=random.Random(1))
    await billing.send(BILLING[2:], watermark=END, rng=random.Random(2))
    await billing.producer.stop()
    return prefix


async def test_escrow_history_follows_the_rules_month_by_month_and_municipalities_never_mix(
    infrastructure, migrated, tmp_path, published
):
    settings = await make_settings(infrastructure, migrated, tmp_path, published)
    await run_until_settled(settings)

    alpha = await movements_of(settings, "alpha")
    assert [m[1:] for m in alpha] == ALPHA
    assert [m[1:] for m in await movements_of(settings, "beta")] == BETA

    ctx = await build_context(settings, pool_size=2)
    token_key = keys.load_private_key(settings.resolved_keys_dir, keys.TOKEN_KEY)

    def bearer(principal: Principal) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(token_key, principal, ttl=timedelta(minutes=5))}"}

    alpha_admin = bearer(Principal(role=Role.MUNICIPALITY, subject="alice", municipality_id="alpha"))
    beta_admin = bearer(Principal(role=Role.MUNICIPALITY, subject="bea", municipality_id="beta"))
    resident = bearer(Principal(role=Role.RESIDENT, subject="ann", municipality_id="alpha", house_id="a1"))
    gsa = bearer(Principal(role=Role.GSA, subject="op"))
    try:
        app = create_app(settings, context=ctx)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://escrow") as client:
            monthly = (await client.get("/municipality/escrow/monthly", headers=alpha_admin)).json()
            assert {m["month"]: m["closing_cents"] for m in monthly} == ALPHA_MONTHS
            assert [m["month"] for m in monthly if m["cover_event"]] == ["2021-09"]
            summary = (await client.get("/municipality/escrow", headers=alpha_admin)).json()
            assert (summary["balance_cents"], summary["treasury_total_cents"]) == (100_500, 1_075)
            past = (await client.get("/municipality/escrow/past-due", headers=alpha_admin)).json()
            assert [(p["invoice_id"], p["covered_cents"], p["shortfall_cents"], p["unpaid_cents"]) for p in past] == [
                ("a1.2021-08", 100_500, 49_500, 30_000)  # 150,000 - the later payment of 120,000
            ]
            rollovers = (await client.get("/municipality/escrow/rollovers", headers=alpha_admin)).json()
            assert [(r["month"], r["amount_cents"]) for r in rollovers] == [("2021-08", 100), ("2021-10", 975)]
            window = (await client.get("/municipality/escrow/movements", headers=alpha_admin,
                                       params={"from": "2021-09-02T00:00:00Z", "to": "2021-10-01T00:00:00Z"})).json()
            assert [m["kind"] for m in window] == ["past_due_cover"]

            # Isolation: beta's administrator sees beta only; residents see no escrow at all.
            assert (await client.get("/municipality/escrow", headers=beta_admin)).json()["balance_cents"] == 100_167
            assert (await client.get("/gsa/escrow/alpha", headers=beta_admin)).status_code == 403
            assert (await client.get("/gsa/escrow/alpha/movements", headers=beta_admin)).status_code == 403
            assert (await client.get("/municipality/escrow", headers=resident)).status_code == 403
            assert (await client.get("/gsa/escrow/alpha", headers=gsa)).json()["balance_cents"] == 100_500
            assert (await client.get("/gsa/escrow/nowhere", headers=gsa)).status_code == 404
            bad = await client.get("/municipality/escrow/monthly", headers=alpha_admin, params={"from": "July"})
            assert bad.status_code == 422 and "from" in bad.text
    finally:
        await ctx.close()

    # Every ledger append is balanced, on the right channels, and never crosses municipalities.
    appends = await _ledger_appends(settings)
    assert len(appends) == len(ALPHA) + len(BETA)
    for append in appends:
        municipality = append.body["municipality_id"]
        assert append.channels[0] == municipality_channel(municipality)
        accounts = {a for t in append.transfers for a in (t.debit_account, t.credit_account)}
        allowed = {Accounts.escrow(municipality), Accounts.escrow_endowment(municipality), Accounts.treasury(municipality),
                   Accounts.GSA_CASH}
        house = append.body.get("house_id")
        if house:
            allowed |= {Accounts.resident_receivable(house), Accounts.resident_escrow_debt(house)}
            assert house.startswith(municipality[0])
        assert accounts <= allowed, append
        if append.kind in ("escrow_repayment", "escrow_past_due_cover"):
            assert append.channels[1] == resident_channel(house)


async def _ledger_appends(settings) -> list[events.LedgerAppendRequested]:
    from aiokafka import TopicPartition

    from energychain_shared.kafka import make_consumer

    name = settings.topic(topics.LEDGER_APPENDS)
    consumer = make_consumer(settings, group_id=None, client_id="escrow-test-reader")
    await consumer.start()
    try:
        partitions = [TopicPartition(name, p) for p in range(topics.LEDGER_APPENDS.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        found: dict[str, events.LedgerAppendRequested] = {}
        while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    event = events.decode(record.value)
                    if event.producer == "escrow":
                        found[event.entry_id] = event
        return list(found.values())
    finally:
        await consumer.stop()


async def test_an_interrupted_worker_and_a_replay_from_offset_zero_give_the_same_history(
    infrastructure, migrated, tmp_path, published
):
    interrupted = await make_settings(infrastructure, migrated, tmp_path / "one", published)
    await run_until_settled(interrupted, interruptions=random.Random(date(2021, 9, 24).toordinal()))
    again = await make_settings(infrastructure, migrated, tmp_path / "two", published)  # new group: everything redelivered
    await run_until_settled(again)
    for municipality in ("alpha", "beta"):
        first = await movements_of(interrupted, municipality)
        assert first == await movements_of(again, municipality)
    assert [m[1:] for m in await movements_of(interrupted, "alpha")] == ALPHA


async def test_two_workers_in_one_group_make_each_movement_once_and_the_same_history(
    infrastructure, migrated, tmp_path, published
):
    settings = await make_settings(infrastructure, migrated, tmp_path, published)
    running = []
    for n in range(2):
        ctx = await build_context(settings, pool_size=3)
        producer = make_producer(settings, client_id=f"escrow-test-{n}")
        await producer.start()
        stop = asyncio.Event()
        running.append((ctx, producer, stop, asyncio.create_task(run_worker(ctx, producer, stop))))
    try:
        deadline = asyncio.get_running_loop().time() + 90
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.3)
            if await books_settled(running[0][0]) == 2:
                break
        else:
            raise AssertionError("escrow did not settle in 90 s")
    finally:
        for ctx, producer, stop, task in running:
            stop.set()
            await asyncio.gather(task, return_exceptions=True)
            await producer.stop()
            await ctx.close()
    assert [m[1:] for m in await movements_of(settings, "alpha")] == ALPHA
    assert [m[1:] for m in await movements_of(settings, "beta")] == BETA
