"""`energychain-gsa-market`: migrate, serve the API, run the stream worker, preflight, export prices, benchmark."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

import typer

from energychain_shared import service_cli

from energychain_market import SERVICE_NAME


def _settings():
    from energychain_shared.settings import load_settings

    from energychain_market.settings import MarketSettings

    return load_settings(MarketSettings)


def _fail(message: str, code: int = 2) -> None:
    service_cli.fail(SERVICE_NAME, message, code)


def _check_price_file(settings) -> None:
    """The price source loads: the file of EC_MARKET_PRICE_CSV when set, otherwise the model."""
    from energychain_market.bootstrap import price_source
    from energychain_market.domain.prices import PriceFileError

    try:
        price_source(settings)
    except (OSError, PriceFileError) as error:
        _fail(f"EC_MARKET_PRICE_CSV: {error}", 3)


app = service_cli.service_app(
    service=SERVICE_NAME,
    settings=_settings,
    package="energychain_market",
    schema=lambda settings: settings.market_db_schema,
    address=lambda settings: (settings.market_host, settings.market_port),
    api="energychain_market.api:create_app",
    context="energychain_market.bootstrap:build_context",
    worker="energychain_market.worker:run_worker",
    serve_help="Serve the resident and GSA API (EC_MARKET_HOST:EC_MARKET_PORT).",
    worker_help="Run the stream worker: clock (prices, clearing) and meter readings (read model, settlement).",
    check=_check_price_file,
    help=__doc__,
)


@app.command()
def fleet() -> None:
    """Run the fleet stream (faust): live windows per municipality and meter alerts, from meter.readings."""
    from energychain_shared.kafka import ensure_topics
    from energychain_shared.observability import configure_logging
    from energychain_shared.registry import load_registry
    from energychain_shared.runtime import preflight as reach

    from energychain_market.fleet import run

    settings = _settings()
    reach(settings, kafka=True, database=False)  # Kafka only: the fleet keeps its state in Kafka
    try:
        registry = load_registry(settings.registry_path)
    except (OSError, ValueError) as error:
        _fail(f"EC_REGISTRY_PATH={settings.registry_path}: {str(error).splitlines()[0]}", 3)
    configure_logging("gsa-market-fleet", settings.log_level)
    asyncio.run(ensure_topics(settings))
    run(settings, registry)


@app.command()
def prices(
    start: Annotated[str, typer.Option(help="First local day, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option(help="Last local day, YYYY-MM-DD.")],
    out: Annotated[Path, typer.Option(help="CSV to write (hour_start_utc,price_usd_per_mwh).")] = Path(
        "data/generated/prices/model-prices.csv"
    ),
) -> None:
    """Write the seeded model's prices for a period as a price CSV (the format EC_MARKET_PRICE_CSV reads)."""
    from energychain_market.bootstrap import price_source

    settings = _settings()
    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError as error:
        _fail(f"--start/--end: {error}")
    if last < first:
        _fail("--end: must not be before --start")
    source = price_source(settings)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with out.open("w", encoding="utf-8") as handle:
        handle.write("hour_start_utc,price_usd_per_mwh\n")
        day = first
        while day <= last:
            for hour, price in sorted(source.prices_for_day(day).items()):
                handle.write(f"{hour.strftime('%Y-%m-%dT%H:%M:%SZ')},{price}\n")
                rows += 1
            day += timedelta(days=1)
    print(f"energychain-gsa-market: wrote {rows} hourly prices to {out}")


@app.command()
def bench(
    houses: Annotated[int, typer.Option(help="Generated houses offering at once.")] = 1000,
    delivery_day: Annotated[str, typer.Option(help="Delivery day to clear.")] = "2021-08-10",
) -> None:
    """Benchmark: N generated houses offer for one day, then the day clears (pure clearing + persisting)."""
    from energychain_market.bench import run_bench

    settings = _settings()
    from energychain_shared.runtime import preflight as check

    check(settings, kafka=False, database=True)
    asyncio.run(run_bench(settings, houses=houses, delivery_day=date.fromisoformat(delivery_day)))


@app.command("bench-fleet")
def bench_fleet(
    houses: Annotated[int, typer.Option(min=1, help="Generated houses.")] = 1000,
    days: Annotated[int, typer.Option(min=1, help="Simulated days replayed.")] = 365,
    municipalities: Annotated[int, typer.Option(min=1)] = 10,
    speed: Annotated[str, typer.Option(help="The replay's speed (simulated s per s), or max.")] = "max",
    data_dir: Annotated[Path | None, typer.Option(help="Fleet folder (generated if missing).")] = None,
    replay_days: Annotated[int | None, typer.Option(min=1, help="Replay only the first N days of the fleet.")] = None,
) -> None:
    """Benchmark: the fleet process follows a generated fleet's replay; readings/s, lag and memory over the days."""
    from energychain_shared.runtime import preflight as check

    from energychain_market.bench_fleet import run_bench

    settings = _settings()
    check(settings, kafka=True, database=True)
    run_bench(settings, houses=houses, days=days, municipalities=municipalities, speed=speed, data_dir=data_dir,
              replay_days=replay_days)


def main() -> None:
    """Console entry point."""
    app()
