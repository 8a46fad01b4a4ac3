"""Start-up helpers shared by every service's entry point."""

from __future__ import annotations

import asyncio
import sys

from energychain_shared.db import check_database, make_engine
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


def preflight(settings: CommonSettings, *, kafka: bool = True, database: bool = True) -> None:
    """Check the broker and database once at start; exit with one clear line if either is unreachable."""
    try:
        asyncio.run(_preflight(settings, kafka=kafka, database=database))
    except InfrastructureUnavailable as error:
        print(f"energychain: {error}", file=sys.stderr)
        raise SystemExit(3) from None
