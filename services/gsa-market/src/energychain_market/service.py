"""Application services: each use case runs in one transaction and writes its events to the outbox."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from energychain_shared import events, topics
from energychain_shared.pg import enqueue, outbox_row
from energychain_shared.registry import Registry

from energychain_market import SERVICE_NAME, ledger_entries, metrics
from energychain_market.adapters.database import LOCK_CLOCK_JOBS
from energychain_market.domain.calendar import (
    HOUR,
    day_ahead_publication,
    gate_closure,
    hours_of_local_day,
    local_date,
    local_midnight_utc,
)
from energychain_market.domain.clearing import CLEARING_MECHANISMS, ClearingMechanism, MarketOffer, clear_day
from energychain_market.domain.offers import (
    OfferRefused,
    OfferRequest,
    OfferStatus,
    ResidentTerms,
    ensure_cancellable,
    validate_offer,
)
from energychain_market.domain.prices import prices_for_hours
from energychain_market.domain.settlement import settle
from energychain_market.settings import MarketSettings

log = logging.getLogger(__name__)


@dataclass
class MarketContext:
    """Everything the use cases need; built once by the composition root."""

    settings: MarketSettings
    registry: Registry
    pool: asyncpg.Pool
    signing_key: Ed25519PrivateKey
    price_source: Any  # has prices_for_day(date) -> dict[datetime, Decimal]
    mechanism: ClearingMechanism = field(init=False)

    def __post_init__(self) -> None:
        self.mechanism = CLEARING_MECHANISMS[self.settings.market_mechanism](
            min_aggregate_wh=self.settings.market_min_aggregate_wh
        )

    @property
    def market_zone(self) -> ZoneInfo:
        """The zone whose local days the price series is published by."""
        return ZoneInfo(self.settings.market_timezone)

    def row(self, topic: topics.Topic, event: events.Event):
        """An outbox row for ``event`` on ``topic``."""
        return outbox_row(self.settings.topic(topic), event)


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def terms_of(registry: Registry, house_id: str) -> ResidentTerms:
    """The offer rules' view of a resident (KeyError when the house is unknown)."""
    resident = registry.resident(house_id)
    contract = resident.contract
    return ResidentTerms(
        house_id=house_id,
        municipality_id=resident.municipality_id,
        zone=registry.municipality_of(house_id).zone,
        reserve_wh=contract.reserve_wh,
        rate_usd_per_kwh=contract.rate_usd_per_kwh,
        escalator_percent=contract.escalator_percent,
        contract_start=contract.start_date,
    )


async def current_sim_time(connection: asyncpg.Connection) -> datetime | None:
    """The latest simulated time seen on the clock topic, or None before the first tick."""
    return await connection.fetchval("SELECT sim_time FROM clock WHERE id = 1")


# ------------------------------------------------------------------------------------------ offers
async def place_offer(ctx: MarketContext, *, house_id: str, request: OfferRequest) -> dict[str, Any]:
    """Check the resident's offer against the rules, store it and publish ReserveOffered (after commit)."""
    terms = terms_of(ctx.registry, house_id)
    async with ctx.pool.acquire() as connection, connection.transaction():
        # Shared with other offers, exclusive against clock jobs: an offer never slips past its gate closure.
        await connection.execute("SELECT pg_advisory_xact_lock_shared($1)", LOCK_CLOCK_JOBS)
        await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"market-offer:{house_id}")
        now = await current_sim_time(connection)
        previous = await connection.fetch(
            "SELECT status FROM offers WHERE house_id = $1 AND delivery_day = $2",
            house_id,
            request.delivery_day,
        )
        accepted = validate_offer(
            request,
            terms=terms,
            now=now,
            max_price_usd_per_kwh=ctx.settings.market_max_price_usd_per_kwh,
            gate_closure_hours_before=ctx.settings.market_gate_closure_hours_before,
            has_open_offer_for_day=any(r["status"] == OfferStatus.OPEN for r in previous),
        )
        offer_id = events.deterministic_id("ReserveOffered", house_id, request.delivery_day, len(previous))
        assert now is not None  # validate_offer refuses offers before the first tick
        await connection.execute(
            "INSERT INTO offers (offer_id, house_id, municipality_id, timezone, delivery_day, reserve_percent, "
            "energy_wh, min_price_usd_per_kwh, rate_usd_per_kwh, status, offered_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'open', $10)",
            offer_id, house_id, terms.municipality_id, terms.zone.key, request.delivery_day, accepted.reserve_percent,
            accepted.energy_wh, accepted.min_price_usd_per_kwh, accepted.current_rate_usd_per_kwh, now,
        )
        offered = events.ReserveOffered(
            event_id=offer_id,
            occurred_at=now,
            producer=SERVICE_NAME,
            offer_id=offer_id,
            house_id=house_id,
            municipality_id=terms.municipality_id,
            delivery_day=request.delivery_day,
            reserve_percent=accepted.reserve_percent,  # type: ignore[arg-type]
            energy_wh=accepted.energy_wh,
            min_price_usd_per_kwh=accepted.min_price_usd_per_kwh,
        )
        entry = ledger_entries.resident_entry(
            ctx.signing_key, kind="reserve_offered", house_id=house_id, natural_key=offer_id, occurred_at=now,
            body=offered.model_dump(mode="json", exclude={"event_type", "schema_version", "event_id", "producer"}),
        )
        await enqueue(connection, [ctx.row(topics.OFFERS, offered), ctx.row(topics.LEDGER_APPENDS, entry)])
        row = await connection.fetchrow("SELECT * FROM offers WHERE offer_id = $1", offer_id)
    metrics.OFFERS.labels("offered").inc()
    return offer_view(row)


async def cancel_offer(ctx: MarketContext, *, house_id: str, offer_id: str) -> dict[str, Any]:
    """Cancel one of the resident's open offers; anything but an open offer is a 409."""
    async with ctx.pool.acquire() as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock_shared($1)", LOCK_CLOCK_JOBS)
        row = await connection.fetchrow(
            "SELECT * FROM offers WHERE offer_id = $1 AND house_id = $2 FOR UPDATE", offer_id, house_id
        )
        if row is None:
            raise OfferRefused(rule="own_offer", field="offer_id", status=404, message=f"no offer {offer_id} of {house_id}")
        ensure_cancellable(OfferStatus(row["status"]), offer_id=offer_id)
        now = await current_sim_time(connection)
        await connection.execute(
            "UPDATE offers SET status = 'cancelled', cancelled_at = $2 WHERE offer_id = $1", offer_id, now
        )
        cancelled = events.OfferCancelled(
            event_id=events.deterministic_id("OfferCancelled", offer_id),
            occurred_at=now,
            producer=SERVICE_NAME,
            offer_id=offer_id,
            house_id=house_id,
        )
        entry = ledger_entries.resident_entry(
            ctx.signing_key, kind="offer_cancelled", house_id=house_id, natural_key=offer_id, occurred_at=now,
            body={"offer_id": offer_id, "house_id": house_id, "delivery_day": row["delivery_day"].isoformat()},
        )
        await enqueue(connection, [ctx.row(topics.OFFERS, cancelled), ctx.row(topics.LEDGER_APPENDS, entry)])
        updated = await connection.fetchrow("SELECT * FROM offers WHERE offer_id = $1", offer_id)
    metrics.OFFERS.labels("cancelled").inc()
    return offer_view(updated)


def offer_view(row: asyncpg.Record, settlement: asyncpg.Record | None = None) -> dict[str, Any]:
    """An offer as the APIs show it, with its outcome and settlement when there is one."""
    view = {
        "offer_id": row["offer_id"],
        "house_id": row["house_id"],
        "municipality_id": row["municipality_id"],
        "delivery_day": row["delivery_day"].isoformat(),
        "reserve_percent": row["reserve_percent"],
        "energy_wh": row["energy_wh"],
        "min_price_usd_per_kwh": _money(row["min_price_usd_per_kwh"]),
        "status": row["status"],
        "offered_at": row["offered_at"].isoformat(),
        "cancelled_at": row["cancelled_at"].isoformat() if row["cancelled_at"] else None,
        "bid_id": row["bid_id"],
        "delivery_hour": row["delivery_hour"].isoformat() if row["delivery_hour"] else None,
        "cleared_wh": row["cleared_wh"],
        "clearing_price_usd_per_mwh": _money(row["clearing_price_usd_per_mwh"]),
        "outcome_reason": row["outcome_reason"],
        "outcome_detail": row["outcome_detail"],
    }
    if settlement is not None:
        view["settlement"] = settlement_view(settlement)
    return view


def settlement_view(row: asyncpg.Record) -> dict[str, Any]:
    """A settlement as the APIs show it."""
    return {
        "settlement_id": row["settlement_id"],
        "offer_id": row["offer_id"],
        "house_id": row["house_id"],
        "municipality_id": row["municipality_id"],
        "delivery_hour": row["delivery_hour"].isoformat(),
        "offered_wh": row["offered_wh"],
        "delivered_wh": row["delivered_wh"],
        "clearing_price_usd_per_mwh": _money(row["clearing_price_usd_per_mwh"]),
        "proceeds_cents": row["proceeds_cents"],
        "fee_cents": row["fee_cents"],
        "credit_cents": row["credit_cents"],
        "refill_wh": row["refill_wh"],
        "shortfall_reason": row["shortfall_reason"],
    }


# ------------------------------------------------------------------------------------ clock jobs
@dataclass(frozen=True)
class ClockReport:
    """What one clock step did."""

    sim_time: datetime
    price_days_published: int
    days_cleared: tuple[tuple[date, str, float], ...]


async def advance_clock(ctx: MarketContext, sim_time: datetime) -> ClockReport:
    """Record the simulated time, publish due prices and clear every delivery day past its gate closure."""
    async with ctx.pool.acquire() as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", LOCK_CLOCK_JOBS)
        now = await connection.fetchval(
            "INSERT INTO clock (id, sim_time, first_sim_time) VALUES (1, $1, $1) "
            "ON CONFLICT (id) DO UPDATE SET sim_time = greatest(clock.sim_time, excluded.sim_time) "
            "RETURNING sim_time",
            sim_time,
        )
        first = await connection.fetchval("SELECT first_sim_time FROM clock WHERE id = 1")
        published = await _publish_due_prices(ctx, connection, now=now, first=first)
        cleared = []
        for day, zone_name in await _days_past_gate_closure(ctx, connection, now):
            started = time.perf_counter()
            await clear_delivery_day(ctx, connection, delivery_day=day, zone_name=zone_name)
            cleared.append((day, zone_name, time.perf_counter() - started))
    metrics.SIM_TIME.set(now.timestamp())
    return ClockReport(now, published, tuple(cleared))


def _latest_due_price_day(ctx: MarketContext, now: datetime) -> date:
    zone = ctx.market_zone
    candidate = local_date(now, zone) + timedelta(days=1)
    if ctx.settings.market_price_publication == "delivery_day":
        return candidate - timedelta(days=1)
    while day_ahead_publication(candidate, zone, publish_hour=ctx.settings.market_day_ahead_hour) > now:
        candidate -= timedelta(days=1)
    return candidate


async def _publish_due_prices(ctx: MarketContext, connection: asyncpg.Connection, *, now: datetime, first: datetime) -> int:
    market = ctx.settings.market_name
    start = local_date(first, ctx.market_zone) - timedelta(days=ctx.settings.market_price_backfill_days)
    latest = _latest_due_price_day(ctx, now)
    if latest < start:
        return 0
    done = {
        r["local_day"]
        for r in await connection.fetch(
            "SELECT local_day FROM price_days WHERE market = $1 AND local_day BETWEEN $2 AND $3",
            market, start, latest,
        )
    }
    day, count, outbox, price_rows, day_rows = start, 0, [], [], []
    while day <= latest:
        if day not in done:
            prices = ctx.price_source.prices_for_day(day)
            published_at = max(
                first,
                day_ahead_publication(day, ctx.market_zone, publish_hour=ctx.settings.market_day_ahead_hour)
                if ctx.settings.market_price_publication == "day_ahead"
                else local_midnight_utc(day, ctx.market_zone),
            )
            for hour, price in sorted(prices.items()):
                price_rows.append((market, hour, price))
                outbox.append(
                    ctx.row(
                        topics.PRICES,
                        events.WholesalePricePublished(
                            event_id=events.deterministic_id("WholesalePricePublished", market, hour.isoformat()),
                            occurred_at=published_at,
                            producer=SERVICE_NAME,
                            market=market,
                            hour_start=hour,
                            price_usd_per_mwh=price,
                        ),
                    )
                )
            day_rows.append((market, day, published_at, len(prices)))
            count += 1
        day += timedelta(days=1)
    await connection.executemany(
        "INSERT INTO prices (market, hour_start, price_usd_per_mwh) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        price_rows,
    )
    await connection.executemany(
        "INSERT INTO price_days (market, local_day, published_at, hours) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT DO NOTHING",
        day_rows,
    )
    await enqueue(connection, outbox)
    return count


async def _days_past_gate_closure(ctx: MarketContext, connection: asyncpg.Connection, now: datetime):
    rows = await connection.fetch(
        "SELECT DISTINCT delivery_day, timezone FROM offers WHERE status = 'open' AND delivery_day <= $1 "
        "ORDER BY delivery_day, timezone",
        (now + timedelta(days=2 + ctx.settings.market_gate_closure_hours_before // 24)).date(),
    )
    hours_before = ctx.settings.market_gate_closure_hours_before
    return [
        (r["delivery_day"], r["timezone"])
        for r in rows
        if gate_closure(r["delivery_day"], ZoneInfo(r["timezone"]), hours_before=hours_before) <= now
    ]


async def clear_delivery_day(
    ctx: MarketContext, connection: asyncpg.Connection, *, delivery_day: date, zone_name: str
) -> None:
    """Clear one delivery day's open offers (inside the caller's clock-job transaction)."""
    zone = ZoneInfo(zone_name)
    closure = gate_closure(delivery_day, zone, hours_before=ctx.settings.market_gate_closure_hours_before)
    rows = await connection.fetch(
        "SELECT offer_id, house_id, municipality_id, energy_wh, min_price_usd_per_kwh FROM offers "
        "WHERE delivery_day = $1 AND timezone = $2 AND status = 'open' ORDER BY offer_id FOR UPDATE",
        delivery_day, zone_name,
    )
    hours = hours_of_local_day(delivery_day, zone)
    prices = prices_for_hours(ctx.price_source, hours, ctx.market_zone)
    offers = [MarketOffer(r["offer_id"], r["house_id"], r["energy_wh"], r["min_price_usd_per_kwh"], hours) for r in rows]
    municipality = {r["offer_id"]: r["municipality_id"] for r in rows}
    clearing_id = events.deterministic_id("MarketCleared", delivery_day.isoformat(), zone_name)

    def order_id_for(hour: datetime) -> str:
        return events.deterministic_id("BidSubmitted", zone_name, hour.isoformat())

    day = clear_day(offers, prices, mechanism=ctx.mechanism, order_id_for=order_id_for)
    cleared = [o for o in day.offer_outcomes if o.cleared]
    await connection.execute(
        "INSERT INTO clearings (clearing_id, delivery_day, timezone, mechanism, min_aggregate_wh, gate_closure, "
        "offers_count, cleared_offers, cleared_wh) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
        "ON CONFLICT (delivery_day, timezone) DO UPDATE SET offers_count = clearings.offers_count + "
        "excluded.offers_count, cleared_offers = clearings.cleared_offers + excluded.cleared_offers, "
        "cleared_wh = clearings.cleared_wh + excluded.cleared_wh",
        clearing_id, delivery_day, zone_name, day.result.mechanism, ctx.settings.market_min_aggregate_wh, closure,
        len(offers), len(cleared), sum(o.cleared_wh for o in cleared),
    )
    outbox = []
    bid_rows = []
    for outcome in day.result.outcomes:
        order = outcome.order
        status = "cleared" if outcome.cleared else "rejected"
        bid_rows.append(
            (order.order_id, clearing_id, delivery_day, order.hour, order.energy_wh, len(order.member_ids),
             order.limit_price_usd_per_mwh, status, outcome.accepted_wh, outcome.price_usd_per_mwh,
             outcome.reason, outcome.detail)
        )
        body = {
            "bid_id": order.order_id, "delivery_day": delivery_day.isoformat(), "delivery_hour": order.hour.isoformat(),
            "energy_wh": order.energy_wh, "accepted_wh": outcome.accepted_wh, "offer_ids": list(order.member_ids),
            "limit_price_usd_per_mwh": str(order.limit_price_usd_per_mwh),
            "clearing_price_usd_per_mwh": _money(outcome.price_usd_per_mwh), "mechanism": day.result.mechanism,
            "reason": outcome.reason,
        }
        entry = ledger_entries.bid_entry(
            ctx.signing_key, kind="bid_submitted" if outcome.cleared else "bid_withheld", bid_id=order.order_id,
            occurred_at=closure, body=body,
        )
        outbox.append(ctx.row(topics.LEDGER_APPENDS, entry))
        if outcome.cleared:
            outbox.append(
                ctx.row(
                    topics.BIDS,
                    events.BidSubmitted(
                        event_id=order.order_id, occurred_at=closure, producer=SERVICE_NAME, bid_id=order.order_id,
                        delivery_hour=order.hour, energy_wh=outcome.accepted_wh, offer_ids=order.member_ids,
                        clearing_price_usd_per_mwh=outcome.price_usd_per_mwh,
                    ),
                )
            )
    await connection.executemany(
        "INSERT INTO bids (bid_id, clearing_id, delivery_day, delivery_hour, energy_wh, offers_count, "
        "limit_price_usd_per_mwh, status, accepted_wh, clearing_price_usd_per_mwh, reason, detail) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (bid_id) DO NOTHING",
        bid_rows,
    )
    offer_updates = []
    for outcome in day.offer_outcomes:
        status = OfferStatus.CLEARED if outcome.cleared else OfferStatus.UNSOLD
        offer_updates.append(
            (outcome.offer_id, status.value, outcome.order_id, outcome.hour, outcome.cleared_wh,
             outcome.price_usd_per_mwh, outcome.reason, outcome.detail)
        )
        body = {
            "offer_id": outcome.offer_id, "house_id": outcome.house_id, "delivery_day": delivery_day.isoformat(),
            "status": status.value, "bid_id": outcome.order_id,
            "delivery_hour": outcome.hour.isoformat() if outcome.hour else None, "cleared_wh": outcome.cleared_wh,
            "clearing_price_usd_per_mwh": _money(outcome.price_usd_per_mwh), "reason": outcome.reason,
            "detail": outcome.detail, "municipality_id": municipality[outcome.offer_id],
        }
        entry = ledger_entries.resident_entry(
            ctx.signing_key, kind=f"offer_{status.value}", house_id=outcome.house_id, natural_key=outcome.offer_id,
            occurred_at=closure, body=body,
        )
        outbox.append(ctx.row(topics.LEDGER_APPENDS, entry))
    await connection.executemany(
        "UPDATE offers SET status = $2, bid_id = $3, delivery_hour = $4, cleared_wh = $5, "
        "clearing_price_usd_per_mwh = $6, outcome_reason = $7, outcome_detail = $8 WHERE offer_id = $1",
        offer_updates,
    )
    await enqueue(connection, outbox)
    metrics.OFFERS.labels("cleared").inc(len(cleared))
    metrics.OFFERS.labels("unsold").inc(len(offers) - len(cleared))


# ------------------------------------------------------------------------------------ settlement
async def meter_watermark(connection: asyncpg.Connection) -> datetime | None:
    """Simulated time before which every partition's readings are in: the minimum over all partitions."""
    row = await connection.fetchrow("SELECT count(*) AS n, min(sim_time) AS low FROM reading_watermarks")
    return row["low"] if row["n"] >= topics.METER_READINGS.partitions else None


async def settle_due(ctx: MarketContext) -> int:
    """Settle every cleared offer whose delivery hour the meter watermark has passed; returns how many."""
    async with ctx.pool.acquire() as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", LOCK_CLOCK_JOBS)
        watermark = await meter_watermark(connection)
        if watermark is None:
            return 0
        offers = await connection.fetch(
            "SELECT * FROM offers WHERE status = 'cleared' AND delivery_hour + interval '1 hour' <= $1 "
            "ORDER BY delivery_hour, offer_id FOR UPDATE",
            watermark,
        )
        if not offers:
            return 0
        readings = await connection.fetch(
            "SELECT r.house_id, r.hour, r.discharged_wh FROM readings r "
            "JOIN unnest($1::timestamptz[], $2::text[]) AS k(hour, house_id) ON r.hour = k.hour AND r.house_id = k.house_id",
            [o["delivery_hour"] for o in offers], [o["house_id"] for o in offers],
        )
        discharged = {(r["house_id"], r["hour"]): r["discharged_wh"] for r in readings}
        rows, outbox = [], []
        for offer in offers:
            figures = settle(
                cleared_wh=offer["cleared_wh"],
                metered_discharge_wh=discharged.get((offer["house_id"], offer["delivery_hour"])),
                price_usd_per_mwh=offer["clearing_price_usd_per_mwh"],
                fee_percent=ctx.settings.market_fee_percent,
            )
            settlement_id = events.deterministic_id("TradeSettled", offer["offer_id"])
            settled_at = offer["delivery_hour"] + HOUR
            rows.append(
                (settlement_id, offer["offer_id"], offer["house_id"], offer["municipality_id"], offer["delivery_hour"],
                 figures.offered_wh, figures.delivered_wh, offer["clearing_price_usd_per_mwh"], figures.proceeds_cents,
                 figures.fee_cents, figures.credit_cents, figures.refill_wh, figures.shortfall_reason, settled_at)
            )
            settled = events.TradeSettled(
                event_id=settlement_id, occurred_at=settled_at, producer=SERVICE_NAME, settlement_id=settlement_id,
                offer_id=offer["offer_id"], house_id=offer["house_id"], municipality_id=offer["municipality_id"],
                delivery_hour=offer["delivery_hour"], offered_wh=figures.offered_wh, delivered_wh=figures.delivered_wh,
                clearing_price_usd_per_mwh=offer["clearing_price_usd_per_mwh"], proceeds_cents=figures.proceeds_cents,
                fee_cents=figures.fee_cents, credit_cents=figures.credit_cents, refill_wh=figures.refill_wh,
                shortfall_reason=figures.shortfall_reason,
            )
            entry = ledger_entries.settlement_entry(
                ctx.signing_key, house_id=offer["house_id"], settlement_id=settlement_id, occurred_at=settled_at,
                body=settled.model_dump(mode="json", exclude={"event_type", "schema_version", "event_id", "producer"}),
                credit_cents=figures.credit_cents, fee_cents=figures.fee_cents,
            )
            outbox += [ctx.row(topics.SETTLEMENTS, settled), ctx.row(topics.LEDGER_APPENDS, entry)]
        await connection.executemany(
            "INSERT INTO settlements (settlement_id, offer_id, house_id, municipality_id, delivery_hour, "
            "offered_wh, delivered_wh, clearing_price_usd_per_mwh, proceeds_cents, fee_cents, credit_cents, refill_wh, "
            "shortfall_reason, settled_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) "
            "ON CONFLICT (offer_id) DO NOTHING",
            rows,
        )
        await connection.execute(
            "UPDATE offers SET status = 'settled' WHERE offer_id = ANY($1::text[])", [o["offer_id"] for o in offers]
        )
        await enqueue(connection, outbox)
    metrics.SETTLEMENTS.inc(len(rows))
    return len(rows)


# -------------------------------------------------------------------------------------- readings
ReadingRow = tuple[datetime, str, int, int, int, int]


def reading_row(reading: events.MeterReadingRecorded) -> ReadingRow:
    """The read model's compact row of one reading."""
    return (
        reading.interval_start, reading.house_id, reading.home_wh, reading.grid_export_wh, reading.grid_import_wh,
        reading.battery_discharged_wh,
    )


async def store_readings(
    pool: asyncpg.Pool, rows: Sequence[ReadingRow], watermarks: dict[int, datetime]
) -> None:
    """Persist a batch of readings (COPY, a reading seen twice kept once) and partition watermarks, in one commit."""
    async with pool.acquire() as connection, connection.transaction():
        if rows:
            await connection.execute(
                "CREATE TEMP TABLE readings_in (LIKE readings) ON COMMIT DROP"
            )
            await connection.copy_records_to_table(
                "readings_in", records=rows, columns=["hour", "house_id", "home_wh", "export_wh", "import_wh", "discharged_wh"]
            )
            await connection.execute(
                "INSERT INTO readings SELECT * FROM readings_in ON CONFLICT (hour, house_id) DO NOTHING"
            )
        if watermarks:
            await connection.executemany(
                "INSERT INTO reading_watermarks (partition, sim_time) VALUES ($1, $2) "
                "ON CONFLICT (partition) DO UPDATE SET sim_time = greatest(reading_watermarks.sim_time, excluded.sim_time)",
                sorted(watermarks.items()),
            )
