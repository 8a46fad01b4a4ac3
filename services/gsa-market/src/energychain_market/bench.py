"""Benchmark: many generated houses offer for one delivery day; the day clears and settles.

Runs in its own schema ``market_bench`` of the configured database (emptied here), so it
never touches the market's real state. Kafka is not needed: events stay in the outbox,
whose rows are part of what the clearing persists.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from energychain_shared import keys, topics
from energychain_shared.db import make_engine
from energychain_shared.migrations import upgrade_async
from energychain_shared.registry import Contract, Municipality, Registry, Resident

from energychain_market import SERVICE_NAME, clock, offers, readings, settlement
from energychain_market.adapters import repository
from energychain_market.bootstrap import price_source
from energychain_market.context import MarketContext
from energychain_market.domain.calendar import day_ahead_publication, gate_closure, hours_of_local_day
from energychain_market.domain.offers import OfferRequest
from energychain_market.settings import MarketSettings

BENCH_SCHEMA = "market_bench"
# At most 10 connections, as many as the offers run on (the engine's overflow doubles its pool).
POOL_SIZE = 5


def generated_registry(houses: int, *, municipalities: int = 10, seed: int = 1) -> Registry:
    """A synthetic fleet: reserves of 1-5 kWh, PPA rates $0.20-$0.26, spread over municipalities."""
    rng = random.Random(seed)
    towns = [Municipality(municipality_id=f"bench-m{m:02d}", name=f"Bench Town {m}") for m in range(municipalities)]
    residents = []
    for n in range(houses):
        battery = rng.choice((10_000, 13_500, 15_000))
        residents.append(
            Resident(
                house_id=f"bench-h{n:05d}",
                username=f"bench{n:05d}",
                name=f"Bench Resident {n}",
                address=f"{n} Bench St",
                municipality_id=towns[n % municipalities].municipality_id,
                contract=Contract(
                    rate_usd_per_kwh=Decimal(rng.randint(20, 26)) / 100,
                    battery_wh=battery,
                    reserve_wh=rng.randint(1, 5) * 1000,
                    start_date=date(2021, 1, 1),
                ),
            )
        )
    return Registry(municipalities=tuple(towns), residents=tuple(residents))


async def _bench_schema(settings: MarketSettings) -> MarketSettings:
    bench_settings = settings.model_copy(update={"market_db_schema": BENCH_SCHEMA})
    await upgrade_async(bench_settings, package="energychain_market", schema=BENCH_SCHEMA)
    return bench_settings


async def run_bench(settings: MarketSettings, *, houses: int, delivery_day: date) -> dict[str, float]:
    """Run the benchmark and print its figures."""
    settings = await _bench_schema(settings)
    registry = generated_registry(houses)
    keys_dir = Path(tempfile.mkdtemp(prefix="gsa-market-bench-keys-"))
    keys.ensure_key_pair(keys_dir, SERVICE_NAME)
    ctx = MarketContext(
        settings=settings, registry=registry, engine=make_engine(settings, schema=BENCH_SCHEMA, pool_size=POOL_SIZE),
        signing_key=keys.load_private_key(keys_dir, SERVICE_NAME), price_source=price_source(settings),
    )
    zone = registry.municipalities[0].zone
    figures: dict[str, float] = {}
    try:
        async with ctx.engine.begin() as connection:
            await repository.empty_every_table(connection)
        # The day before delivery, after the day-ahead prices are out.
        before = day_ahead_publication(delivery_day, zone) + timedelta(hours=1)
        await clock.advance_clock(ctx, before)
        prices = ctx.price_source.prices_for_day(delivery_day)
        peak = max(prices.values())
        rng = random.Random(7)

        async def offer(resident: Resident) -> None:
            rate = resident.contract.rate_usd_per_kwh
            # Most minimums sit between the rate and the day's peak, some above it (unsold).
            ceiling = max(rate, min(Decimal("1.00"), peak / 1000 * Decimal("1.05")))
            price = (rate + (ceiling - rate) * Decimal(rng.randint(0, 100)) / 100).quantize(Decimal("0.000001"))
            await offers.place_offer(
                ctx, house_id=resident.house_id,
                request=OfferRequest(rng.choice((25, 50, 75, 100)), delivery_day, max(price, rate)),
            )

        started = time.perf_counter()
        await asyncio.gather(*(offer(r) for r in registry.residents))
        figures["offers_seconds"] = time.perf_counter() - started

        started = time.perf_counter()
        report = await clock.advance_clock(ctx, gate_closure(delivery_day, zone))
        figures["clearing_seconds"] = time.perf_counter() - started
        async with ctx.engine.connect() as connection:
            counts = await repository.offer_counts(connection)
            bids = await repository.bid_count(connection)
        cleared, unsold = counts.get("cleared", 0), counts.get("unsold", 0)
        # Metered discharge for every house and hour of the day, then the watermark past the day.
        rows = [
            (hour, r.house_id, 500, 0, 0, rng.randint(0, 3000))
            for r in registry.residents
            for hour in hours_of_local_day(delivery_day, zone)
        ]
        end_of_day = gate_closure(delivery_day + timedelta(days=1), zone)
        started = time.perf_counter()
        await readings.store_readings(ctx, rows, {p: end_of_day for p in range(topics.METER_READINGS.partitions)})
        figures["readings_seconds"] = time.perf_counter() - started
        started = time.perf_counter()
        settled = await settlement.settle_due(ctx)
        figures["settlement_seconds"] = time.perf_counter() - started
        async with ctx.engine.connect() as connection:
            outbox = await repository.outbox_count(connection)
    finally:
        await ctx.close()
    print(f"gsa-market bench: {houses} houses, delivery day {delivery_day}, day's peak {peak} $/MWh")
    print(f"  place {houses} offers (API use case, 10 connections): {figures['offers_seconds']:.3f} s")
    print(
        f"  clear the day (pure clearing + persisting offers, bids, ledger entries, events): "
        f"{figures['clearing_seconds']:.3f} s -> {cleared} cleared, {unsold} unsold, {bids} hourly bids"
    )
    print(f"  store {len(rows)} readings (COPY): {figures['readings_seconds']:.3f} s")
    print(f"  settle {settled} cleared offers against the meter: {figures['settlement_seconds']:.3f} s")
    print(f"  outbox events written: {outbox}; days cleared by the clock step: {len(report.days_cleared)}")
    return figures
