"""Use case of a clock tick: record the simulated time, publish due prices, clear days past their gate closure.

Everything a tick decides happens in one transaction holding the clock-job lock
exclusively, so offers (which share it) never slip past a clearing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from energychain_shared import events, topics
from energychain_shared.outbox import OutboxRow, enqueue

from energychain_market import SERVICE_NAME, ledger_entries, metrics
from energychain_market.adapters import repository
from energychain_market.context import MarketContext
from energychain_market.domain.calendar import (
    day_ahead_publication,
    gate_closure,
    hours_of_local_day,
    local_date,
    local_midnight_utc,
)
from energychain_market.domain.clearing import DayClearing, MarketOffer, clear_day
from energychain_market.domain.offers import OfferStatus
from energychain_market.domain.prices import prices_for_hours
from energychain_market.views import money


@dataclass(frozen=True)
class ClockReport:
    """What one clock step did."""

    sim_time: datetime
    price_days_published: int
    days_cleared: tuple[tuple[date, str, float], ...]


async def advance_clock(ctx: MarketContext, sim_time: datetime) -> ClockReport:
    """Record the simulated time, publish due prices and clear every delivery day past its gate closure."""
    async with ctx.engine.begin() as connection:
        await repository.lock_clock_jobs(connection)
        now, first = await repository.advance_sim_time(connection, sim_time)
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


def _publication_time(ctx: MarketContext, day: date, *, first: datetime) -> datetime:
    """When ``day``'s prices count as published: their publication time, never before the first tick."""
    if ctx.settings.market_price_publication == "day_ahead":
        due = day_ahead_publication(day, ctx.market_zone, publish_hour=ctx.settings.market_day_ahead_hour)
    else:
        due = local_midnight_utc(day, ctx.market_zone)
    return max(first, due)


async def _publish_due_prices(ctx: MarketContext, connection: AsyncConnection, *, now: datetime, first: datetime) -> int:
    market = ctx.settings.market_name
    start = local_date(first, ctx.market_zone) - timedelta(days=ctx.settings.market_price_backfill_days)
    latest = _latest_due_price_day(ctx, now)
    if latest < start:
        return 0
    done = await repository.published_price_days(connection, market=market, first=start, last=latest)
    day, count, outbox, hourly, days = start, 0, [], [], []
    while day <= latest:
        if day not in done:
            prices = ctx.price_source.prices_for_day(day)
            published_at = _publication_time(ctx, day, first=first)
            for hour, price in sorted(prices.items()):
                hourly.append({"market": market, "hour_start": hour, "price_usd_per_mwh": price})
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
            days.append({"market": market, "local_day": day, "published_at": published_at, "hours": len(prices)})
            count += 1
        day += timedelta(days=1)
    await repository.insert_prices(connection, hourly=hourly, days=days)
    await enqueue(connection, outbox)
    return count


async def _days_past_gate_closure(ctx: MarketContext, connection: AsyncConnection, now: datetime):
    hours_before = ctx.settings.market_gate_closure_hours_before
    candidates = await repository.open_delivery_days(
        connection, until=(now + timedelta(days=2 + hours_before // 24)).date()
    )
    return [
        (day, zone_name)
        for day, zone_name in candidates
        if gate_closure(day, ZoneInfo(zone_name), hours_before=hours_before) <= now
    ]


async def clear_delivery_day(ctx: MarketContext, connection: AsyncConnection, *, delivery_day: date, zone_name: str) -> None:
    """Clear one delivery day's open offers (inside the caller's clock-job transaction)."""
    zone = ZoneInfo(zone_name)
    closure = gate_closure(delivery_day, zone, hours_before=ctx.settings.market_gate_closure_hours_before)
    rows = await repository.open_offers_for_update(connection, delivery_day=delivery_day, zone_name=zone_name)
    hours = hours_of_local_day(delivery_day, zone)
    prices = prices_for_hours(ctx.price_source, hours, ctx.market_zone)
    offers = [MarketOffer(r.offer_id, r.house_id, r.energy_wh, r.min_price_usd_per_kwh, hours) for r in rows]
    municipality = {r.offer_id: r.municipality_id for r in rows}
    clearing_id = events.deterministic_id("MarketCleared", delivery_day.isoformat(), zone_name)

    def order_id_for(hour: datetime) -> str:
        return events.deterministic_id("BidSubmitted", zone_name, hour.isoformat())

    day = clear_day(offers, prices, mechanism=ctx.mechanism, order_id_for=order_id_for)
    cleared = [o for o in day.offer_outcomes if o.cleared]
    await repository.add_clearing(connection, {
        "clearing_id": clearing_id, "delivery_day": delivery_day, "timezone": zone_name,
        "mechanism": day.result.mechanism, "min_aggregate_wh": ctx.settings.market_min_aggregate_wh,
        "gate_closure": closure, "offers_count": len(offers), "cleared_offers": len(cleared),
        "cleared_wh": sum(o.cleared_wh for o in cleared),
    })
    bid_rows, bid_outbox = _bids(ctx, day, clearing_id=clearing_id, delivery_day=delivery_day, closure=closure)
    await repository.insert_bids(connection, bid_rows)
    outcomes, outcome_outbox = _offer_outcomes(
        ctx, day, delivery_day=delivery_day, closure=closure, municipality=municipality
    )
    await repository.record_offer_outcomes(connection, outcomes)
    await enqueue(connection, bid_outbox + outcome_outbox)
    metrics.OFFERS.labels("cleared").inc(len(cleared))
    metrics.OFFERS.labels("unsold").inc(len(offers) - len(cleared))


def _bids(
    ctx: MarketContext, day: DayClearing, *, clearing_id: str, delivery_day: date, closure: datetime
) -> tuple[list[dict[str, Any]], list[OutboxRow]]:
    """The day's bid rows, their ledger entries on the GSA channel and BidSubmitted for the accepted ones."""
    rows, outbox = [], []
    for outcome in day.result.outcomes:
        order = outcome.order
        rows.append({
            "bid_id": order.order_id, "clearing_id": clearing_id, "delivery_day": delivery_day,
            "delivery_hour": order.hour, "energy_wh": order.energy_wh, "offers_count": len(order.member_ids),
            "limit_price_usd_per_mwh": order.limit_price_usd_per_mwh,
            "status": "cleared" if outcome.cleared else "rejected", "accepted_wh": outcome.accepted_wh,
            "clearing_price_usd_per_mwh": outcome.price_usd_per_mwh, "reason": outcome.reason,
            "detail": outcome.detail,
        })
        body = {
            "bid_id": order.order_id, "delivery_day": delivery_day.isoformat(), "delivery_hour": order.hour.isoformat(),
            "energy_wh": order.energy_wh, "accepted_wh": outcome.accepted_wh, "offer_ids": list(order.member_ids),
            "limit_price_usd_per_mwh": str(order.limit_price_usd_per_mwh),
            "clearing_price_usd_per_mwh": money(outcome.price_usd_per_mwh), "mechanism": day.result.mechanism,
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
    return rows, outbox


def _offer_outcomes(
    ctx: MarketContext, day: DayClearing, *, delivery_day: date, closure: datetime, municipality: dict[str, str]
) -> tuple[list[dict[str, Any]], list[OutboxRow]]:
    """Each offer's outcome (cleared or unsold) and its ledger entry on the resident's channel."""
    outcomes, outbox = [], []
    for outcome in day.offer_outcomes:
        status = OfferStatus.CLEARED if outcome.cleared else OfferStatus.UNSOLD
        outcomes.append({
            "offer_id": outcome.offer_id, "status": status.value, "bid_id": outcome.order_id,
            "delivery_hour": outcome.hour, "cleared_wh": outcome.cleared_wh,
            "clearing_price_usd_per_mwh": outcome.price_usd_per_mwh, "outcome_reason": outcome.reason,
            "outcome_detail": outcome.detail,
        })
        body = {
            "offer_id": outcome.offer_id, "house_id": outcome.house_id, "delivery_day": delivery_day.isoformat(),
            "status": status.value, "bid_id": outcome.order_id,
            "delivery_hour": outcome.hour.isoformat() if outcome.hour else None, "cleared_wh": outcome.cleared_wh,
            "clearing_price_usd_per_mwh": money(outcome.price_usd_per_mwh), "reason": outcome.reason,
            "detail": outcome.detail, "municipality_id": municipality[outcome.offer_id],
        }
        entry = ledger_entries.resident_entry(
            ctx.signing_key, kind=f"offer_{status.value}", house_id=outcome.house_id, natural_key=outcome.offer_id,
            occurred_at=closure, body=body,
        )
        outbox.append(ctx.row(topics.LEDGER_APPENDS, entry))
    return outcomes, outbox
