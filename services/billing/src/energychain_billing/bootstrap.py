"""The composition root: builds billing's context inside the running loop."""

from __future__ import annotations

from energychain_shared import keys
from energychain_shared.pg import make_pool
from energychain_shared.registry import load_registry

from energychain_billing import SERVICE_NAME
from energychain_billing.service import BillingContext
from energychain_billing.settings import BillingSettings


async def build_context(settings: BillingSettings, *, pool_size: int = 10) -> BillingContext:
    """Pool, registry and signing key for the use cases."""
    pool = await make_pool(settings.asyncpg_dsn, schema=settings.billing_db_schema, max_size=pool_size)
    return BillingContext(
        settings=settings,
        registry=load_registry(settings.registry_path),
        pool=pool,
        signing_key=keys.load_private_key(settings.resolved_keys_dir, SERVICE_NAME),
    )
