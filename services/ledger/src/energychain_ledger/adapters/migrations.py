"""The ledger's Alembic revisions (``migrations/versions``) run by the shared runner in schema ``ledger``."""

from __future__ import annotations

from energychain_ledger.adapters.tables import SCHEMA
from energychain_shared.migrations import upgrade
from energychain_shared.settings import CommonSettings

PACKAGE = "energychain_ledger"


def upgrade_to_head(settings: CommonSettings) -> None:
    """Bring the ledger schema to the newest revision (idempotent; safe to run concurrently)."""
    upgrade(settings, package=PACKAGE, schema=SCHEMA)
