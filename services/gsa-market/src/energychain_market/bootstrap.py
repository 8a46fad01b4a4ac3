"""The composition root: builds the market's context, clients and pools inside the running loop."""

from __future__ import annotations

from energychain_shared import keys
from energychain_shared.pg import make_pool
from energychain_shared.registry import load_registry

from energychain_market import SERVICE_NAME
from energychain_market.domain.prices import DuckCurvePriceModel, TablePriceSeries, parse_price_csv
from energychain_market.service import MarketContext
from energychain_market.settings import MarketSettings


def price_source(settings: MarketSettings):
    """The real price file when EC_MARKET_PRICE_CSV is set, otherwise the seeded duck-curve model."""
    if settings.market_price_csv is not None:
        with settings.market_price_csv.open(encoding="utf-8") as handle:
            table = parse_price_csv(handle, source=str(settings.market_price_csv))
        return TablePriceSeries(table, timezone_name=settings.market_timezone)
    return DuckCurvePriceModel(seed=settings.market_price_seed, timezone_name=settings.market_timezone)


async def build_context(settings: MarketSettings, *, pool_size: int = 10) -> MarketContext:
    """Pool, registry, signing key and price source for the use cases."""
    pool = await make_pool(settings.asyncpg_dsn, schema=settings.market_db_schema, max_size=pool_size)
    return MarketContext(
        settings=settings,
        registry=load_registry(settings.registry_path),
        pool=pool,
        signing_key=keys.load_private_key(settings.resolved_keys_dir, SERVICE_NAME),
        price_source=price_source(settings),
    )
