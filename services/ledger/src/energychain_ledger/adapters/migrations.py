"""Run the ledger's Alembic migrations (schema ``ledger``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from energychain_shared.settings import CommonSettings

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"


def alembic_config(settings: CommonSettings) -> Config:
    """An Alembic config for this package's migrations against the configured database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Passed as an attribute, not an ini option: a password may contain '%'.
    config.attributes["url"] = settings.database_url
    return config


def upgrade_to_head(settings: CommonSettings) -> None:
    """Bring the ledger schema to the newest revision (idempotent; safe to run concurrently)."""
    command.upgrade(alembic_config(settings), "head")
