"""Alembic environment: escrow's revisions, in its schema."""

from energychain_shared.migrations import run_env

from energychain_escrow.adapters.tables import metadata

run_env(metadata)
