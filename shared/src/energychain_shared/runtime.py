"""Start-up helpers shared by every service's entry point."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable

from energychain_shared.db import check_database, make_engine
from energychain_shared.keys import private_key_path
from energychain_shared.kafka import InfrastructureUnavailable, check_kafka
from energychain_shared.settings import CommonSettings


async def _preflight(settings: CommonSettings, *, kafka: bool, database: bool) -> None:
    if kafka:
        await check_kafka(settings)
    if database:
        engine = make_engine(settings, pool_size=1)
        try:
            await check_database(engine, settings)
        finally:
            await engine.dispose()


def preflight(
    settings: CommonSettings, *, kafka: bool = True, database: bool = True, keys: Iterable[str] = ()
) -> None:
    """Check the broker, database and signing keys once at start; exit with one clear line if one is missing."""
    for name in keys:
        path = private_key_path(settings.resolved_keys_dir, name)
        if not path.exists():
            print(f"energychain: missing signing key {path}: run `energychain-keys init`", file=sys.stderr)
            raise SystemExit(3)
    try:
        asyncio.run(_preflight(settings, kafka=kafka, database=database))
    except InfrastructureUnavailable as error:
        print(f"energychain: {error}", file=sys.stderr)
        raise SystemExit(3) from None
