"""The composition root: builds escrow's context inside the running loop."""

from __future__ import annotations

from energychain_shared import db, keys
from energychain_shared.registry_feed import started_feed

from energychain_escrow import SERVICE_NAME
from energychain_escrow.context import EscrowContext
from energychain_escrow.settings import EscrowSettings


async def build_context(settings: EscrowSettings, *, pool_size: int = 5) -> EscrowContext:
    """Engine, registry and signing key for the use cases."""
    feed = await started_feed(settings, client_id=f"{SERVICE_NAME}-registry")
    ctx = EscrowContext(
        settings=settings,
        registry=feed.registry,
        engine=db.make_engine(settings, schema=settings.escrow_db_schema, pool_size=pool_size),
        signing_key=keys.load_private_key(settings.resolved_keys_dir, SERVICE_NAME),
    )
    ctx.follow(feed)
    return ctx
