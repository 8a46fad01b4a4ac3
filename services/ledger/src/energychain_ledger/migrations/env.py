"""Alembic environment of the ledger: the shared runner, in schema ``ledger``."""

from energychain_ledger.adapters.tables import metadata
from energychain_shared.migrations import run_env

run_env(metadata)
