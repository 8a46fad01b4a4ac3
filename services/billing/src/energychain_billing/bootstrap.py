"""The composition root: builds billing's context inside the running loop."""

from __future__ import annotations

from energychain_shared import keys
from energychain_shared.db import make_engine
from energychain_shared.registry_feed import started_feed

from energychain_billing import SERVICE_NAME
from energychain_billing.context import BillingContext
from energychain_billing.settings import BillingSettings


async def build_context(settings: BillingSettings, *, pool_size: int = 10) -> BillingContext:
    """Engine (billing's schema), the live registry and signing key for the use cases."""
    feed = await started_feed(settings, client_id=f"{SERVICE_NAME}-registry")
    ctx = BillingContext(
        settings=settings,
        registry=feed.registry,
        engine=make_engine(settings, schema=settings.billing_db_schema, pool_size=pool_size),
        signing_key=keys.load_private_key(settings.resolved_keys_dir, SERVICE_NAME),
    )
    ctx.follow(feed)
    return ctx
