"""Alembic environment of the market: the shared runner, in EC_MARKET_DB_SCHEMA."""

from energychain_shared.migrations import run_env

from energychain_market.adapters.tables import metadata

run_env(metadata)
