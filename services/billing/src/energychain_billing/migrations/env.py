"""Alembic environment of billing: the shared runner, in EC_BILLING_DB_SCHEMA."""

from energychain_shared.migrations import run_env

from energychain_billing.adapters.tables import metadata

run_env(metadata)
