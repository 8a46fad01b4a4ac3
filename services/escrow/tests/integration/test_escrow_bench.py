"""The benchmark at a small scale: the database path makes exactly the history of the pure rules."""

from __future__ import annotations

import uuid

import pytest

from energychain_shared import db

from energychain_escrow.adapters import repository
from energychain_escrow.bench import run_bench
from energychain_escrow.settings import EscrowSettings

pytestmark = pytest.mark.integration


async def test_the_benchmark_fleet_through_the_database_matches_the_pure_rules(infrastructure):
    settings = EscrowSettings(**infrastructure.model_dump())
    schema = f"escrow_bench_{uuid.uuid4().hex[:8]}"
    try:
        # run_bench raises if any municipality's movements or balance differ from the pure rules.
        figures = await run_bench(settings, houses=40, months=6, municipalities=3, schema=schema, quiet=True)
    finally:
        engine = db.make_engine(settings, pool_size=1)
        try:
            async with engine.begin() as connection:
                await repository.drop_schema(connection, schema)
        finally:
            await engine.dispose()
    assert figures["billing_events"] == 40 * 6 * 2  # an invoice and a payment or past-due notice per month
    assert figures["outbox_rows"] == 2 * figures["movements"]  # an EscrowMoved and a ledger append each
    assert figures["movements"] > figures["billing_events"] // 2
