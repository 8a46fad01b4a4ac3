"""What the APIs read: offers, settlements, bids, clearings, revenue, prices, usage and a resident's terms."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Row

from energychain_market.adapters import readings as readings_store
from energychain_market.adapters import repository
from energychain_market.context import MarketContext
from energychain_market.domain.offers import ALLOWED_RESERVE_PERCENTS, current_rate

ALL_STATUSES = "all"


def money(value: Decimal | None) -> str | None:
    """A Decimal amount or price as the APIs show it (None stays None)."""
    return None if value is None else str(value)


def _iso(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def offer_view(row: Row, settlement: Row | None = None) -> dict[str, Any]:
    """An offer as the APIs show it, with its outcome and settlement when there is one."""
    view = {
        "offer_id": row.offer_id,
        "house_id": row.house_id,
        "municipality_id": row.municipality_id,
        "delivery_day": row.delivery_day.isoformat(),
        "reserve_percent": row.reserve_percent,
        "energy_wh": row.energy_wh,
        "min_price_usd_per_kwh": money(row.min_price_usd_per_kwh),
        "status": row.status,
        "offered_at": row.offered_at.isoformat(),
        "cancelled_at": _iso(row.cancelled_at),
        "bid_id": row.bid_id,
        "delivery_hour": _iso(row.delivery_hour),
        "cleared_wh": row.cleared_wh,
        "clearing_price_usd_per_mwh": money(row.clearing_price_usd_per_mwh),
        "outcome_reason": row.outcome_reason,
        "outcome_detail": row.outcome_detail,
    }
    if settlement is not None:
        view["settlement"] = settlement_view(settlement)
    return view


def settlement_view(row: Row) -> dict[str, Any]:
    """A settlement as the APIs show it."""
    return {
        "settlement_id": row.settlement_id,
        "offer_id": row.offer_id,
        "house_id": row.house_id,
        "municipality_id": row.municipality_id,
        "delivery_hour": row.delivery_hour.isoformat(),
        "offered_wh": row.offered_wh,
        "delivered_wh": row.delivered_wh,
        "clearing_price_usd_per_mwh": money(row.clearing_price_usd_per_mwh),
        "proceeds_cents": row.proceeds_cents,
        "fee_cents": row.fee_cents,
        "credit_cents": row.credit_cents,
        "refill_wh": row.refill_wh,
        "shortfall_reason": row.shortfall_reason,
    }


def bid_view(row: Row) -> dict[str, Any]:
    """An aggregated hourly bid as the GSA API shows it."""
    return {
        "bid_id": row.bid_id, "delivery_day": row.delivery_day.isoformat(),
        "delivery_hour": row.delivery_hour.isoformat(), "energy_wh": row.energy_wh,
        "offers_count": row.offers_count, "limit_price_usd_per_mwh": str(row.limit_price_usd_per_mwh),
        "status": row.status, "accepted_wh": row.accepted_wh,
        "clearing_price_usd_per_mwh": money(row.clearing_price_usd_per_mwh),
        "reason": row.reason, "detail": row.detail,
    }


def clearing_view(row: Row) -> dict[str, Any]:
    """A delivery day's clearing as the GSA API shows it."""
    return {
        "clearing_id": row.clearing_id, "delivery_day": row.delivery_day.isoformat(),
        "timezone": row.timezone, "mechanism": row.mechanism, "min_aggregate_wh": row.min_aggregate_wh,
        "gate_closure": row.gate_closure.isoformat(), "offers_count": row.offers_count,
        "cleared_offers": row.cleared_offers, "cleared_wh": row.cleared_wh,
    }


async def resident_offers(ctx: MarketContext, house_id: str) -> list[dict[str, Any]]:
    """The house's offers, newest delivery day first, each with its settlement when settled."""
    async with ctx.engine.connect() as connection:
        offers = await repository.offers_of_house(connection, house_id)
        settled = {s.offer_id: s for s in await repository.settlements_of_house(connection, house_id)}
    return [offer_view(o, settled.get(o.offer_id)) for o in offers]


async def resident_terms(ctx: MarketContext, house_id: str) -> dict[str, Any]:
    """What the resident may offer now: percentages, reserve, the price floor and ceiling, the earliest day."""
    async with ctx.engine.connect() as connection:
        now = await repository.sim_time(connection)
    zone = ctx.registry.municipality_of(house_id).zone
    terms = ctx.resident_terms(house_id, on=None if now is None else now.astimezone(zone).date() + timedelta(days=1))
    return {
        "reserve_wh": terms.reserve_wh,
        "reserve_percents": list(ALLOWED_RESERVE_PERCENTS),
        "sim_time": _iso(now),
        "min_price_floor_usd_per_kwh": str(current_rate(terms, now)) if now else None,
        "max_price_usd_per_kwh": str(ctx.settings.market_max_price_usd_per_kwh),
        "earliest_delivery_day": _iso(now.astimezone(terms.zone).date() + timedelta(days=1)) if now else None,
    }


async def offers_with_status(ctx: MarketContext, *, status: str | None, delivery_day: date | None) -> list[dict[str, Any]]:
    """Offers with ``status`` (None or ``all``: every status), optionally of one delivery day."""
    wanted = None if status in (None, ALL_STATUSES) else status
    async with ctx.engine.connect() as connection:
        rows = await repository.offers_by_status(connection, status=wanted, delivery_day=delivery_day)
    return [offer_view(r) for r in rows]


async def bids(ctx: MarketContext, delivery_day: date | None) -> list[dict[str, Any]]:
    """Aggregated bids by delivery hour, optionally of one delivery day."""
    async with ctx.engine.connect() as connection:
        return [bid_view(r) for r in await repository.bids_of(connection, delivery_day)]


async def clearings(ctx: MarketContext) -> list[dict[str, Any]]:
    """Clearing results per delivery day."""
    async with ctx.engine.connect() as connection:
        return [clearing_view(r) for r in await repository.all_clearings(connection)]


async def settlements(ctx: MarketContext, *, low: datetime, high: datetime) -> list[dict[str, Any]]:
    """Settlements with low <= delivery hour < high."""
    async with ctx.engine.connect() as connection:
        return [settlement_view(r) for r in await repository.settlements_between(connection, low=low, high=high)]


async def revenue(ctx: MarketContext, *, low: datetime, high: datetime) -> dict[str, Any]:
    """The GSA's market fees (and proceeds, credits, delivered energy) per UTC day and in total."""
    async with ctx.engine.connect() as connection:
        rows = await repository.revenue_by_day(connection, low=low, high=high)
    days = [
        {"day": r.day.isoformat(), "proceeds_cents": int(r.proceeds), "fee_cents": int(r.fees),
         "credit_cents": int(r.credits), "delivered_wh": int(r.delivered)}
        for r in rows
    ]
    return {
        "fee_cents": sum(d["fee_cents"] for d in days),
        "proceeds_cents": sum(d["proceeds_cents"] for d in days),
        "credit_cents": sum(d["credit_cents"] for d in days),
        "delivered_wh": sum(d["delivered_wh"] for d in days),
        "days": days,
    }


async def published_prices(ctx: MarketContext, *, low: datetime, high: datetime) -> list[dict[str, str]]:
    """The market's published hourly prices with low <= hour start < high."""
    async with ctx.engine.connect() as connection:
        rows = await repository.prices_between(connection, market=ctx.settings.market_name, low=low, high=high)
    return [{"hour_start": hour.isoformat(), "price_usd_per_mwh": str(price)} for hour, price in rows]


async def hourly_usage(
    ctx: MarketContext, *, low: datetime, high: datetime, house_ids: Sequence[str] | None
) -> dict[str, dict[str, list]]:
    """Per house, the columns hour, home_wh, grid_export_wh, grid_import_wh of the readings read model."""
    async with ctx.engine.connect() as connection:
        rows = await readings_store.hourly_usage(connection, low=low, high=high, house_ids=house_ids)
    houses: dict[str, dict[str, list]] = {}
    for house_id, hour, home, export, imported in rows:
        series = houses.get(house_id)
        if series is None:
            series = houses[house_id] = {"hour": [], "home_wh": [], "grid_export_wh": [], "grid_import_wh": []}
        series["hour"].append(hour.isoformat())
        series["home_wh"].append(home)
        series["grid_export_wh"].append(export)
        series["grid_import_wh"].append(imported)
    return houses
