"""The composition root: builds the market's context (the one engine of the process) inside the running loop."""

from __future__ import annotations

from energychain_shared import keys
from energychain_shared.db import make_engine
from energychain_shared.registry_feed import started_feed

from energychain_market import SERVICE_NAME
from energychain_market.context import MarketContext, PriceSource
from energychain_market.domain.prices import DuckCurvePriceModel, TablePriceSeries, parse_price_csv
from energychain_market.settings import MarketSettings


def price_source(settings: MarketSettings) -> PriceSource:
    """The real price file when EC_MARKET_PRICE_CSV is set, otherwise the seeded duck-curve model."""
    if settings.market_price_csv is not None:
        with settings.market_price_csv.open(encoding="utf-8") as handle:
            table = parse_price_csv(handle, source=str(settings.market_price_csv))
        return TablePriceSeries(table, timezone_name=settings.market_timezone)
    return DuckCurvePriceModel(seed=settings.market_price_seed, timezone_name=settings.market_timezone)


async def build_context(settings: MarketSettings, *, pool_size: int = 10) -> MarketContext:
    """Engine (in the market's schema), registry, signing key and price source for the use cases."""
    feed = await started_feed(settings, client_id=f"{SERVICE_NAME}-registry")
    ctx = MarketContext(
        settings=settings,
        registry=feed.registry,
        engine=make_engine(settings, schema=settings.market_db_schema, pool_size=pool_size),
        signing_key=keys.load_private_key(settings.resolved_keys_dir, SERVICE_NAME),
        price_source=price_source(settings),
    )
    ctx.follow(feed)
    return ctx
