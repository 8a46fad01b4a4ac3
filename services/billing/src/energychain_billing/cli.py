"""`energychain-billing`: migrate, serve the API, run the stream worker, preflight, benchmark."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


def _settings():
    from energychain_shared.settings import load_settings

    from energychain_billing.settings import BillingSettings

    return load_settings(BillingSettings)


def _fail(message: str, code: int = 2) -> None:
    print(f"energychain-billing: {message}", file=sys.stderr)
    raise typer.Exit(code)


def _preflight(settings, *, kafka: bool = True) -> None:
    from energychain_shared import keys
    from energychain_shared.registry import load_registry
    from energychain_shared.runtime import preflight

    from energychain_billing import SERVICE_NAME

    preflight(settings, kafka=kafka, database=True)
    try:
        load_registry(settings.registry_path)
    except (OSError, ValueError) as error:
        _fail(f"EC_REGISTRY_PATH={settings.registry_path}: {str(error).splitlines()[0]}", 3)
    if not keys.private_key_path(settings.resolved_keys_dir, SERVICE_NAME).exists():
        _fail(f"EC_KEYS_DIR={settings.resolved_keys_dir}: missing key {SERVICE_NAME}: run `energychain-keys init`", 3)
    if not keys.public_key_path(settings.resolved_keys_dir, keys.TOKEN_KEY).exists():
        _fail(f"EC_KEYS_DIR={settings.resolved_keys_dir}: missing key {keys.TOKEN_KEY}.pub: run `energychain-keys init`", 3)


@app.command()
def preflight() -> None:
    """Check settings, Kafka, PostgreSQL, the registry and the keys; one clear line on failure."""
    _preflight(_settings())
    print("energychain-billing: preflight ok")


@app.command()
def migrate() -> None:
    """Create or upgrade billing's PostgreSQL schema (EC_BILLING_DB_SCHEMA, default `billing`)."""
    import asyncpg

    from energychain_shared.pg import migrate as run_migrations
    from energychain_shared.runtime import preflight as check

    settings = _settings()
    check(settings, kafka=False, database=True)

    async def go() -> list[str]:
        connection = await asyncpg.connect(settings.asyncpg_dsn)
        try:
            return await run_migrations(connection, schema=settings.billing_db_schema, package="energychain_billing")
        finally:
            await connection.close()

    applied = asyncio.run(go())
    print(f"energychain-billing: migrations applied: {', '.join(applied) or 'none (up to date)'}")


@app.command()
def serve() -> None:
    """Serve the resident, municipality and GSA API (EC_BILLING_HOST:EC_BILLING_PORT)."""
    import uvicorn

    from energychain_shared.observability import configure_logging

    from energychain_billing import SERVICE_NAME
    from energychain_billing.api import create_app

    settings = _settings()
    _preflight(settings)
    configure_logging(SERVICE_NAME, settings.log_level)
    uvicorn.run(create_app(settings), host=settings.billing_host, port=settings.billing_port, log_config=None)


@app.command()
def worker() -> None:
    """Run the stream worker: readings and watermarks (invoices, past due), trade settlements."""
    from energychain_shared.kafka import ensure_topics, make_producer
    from energychain_shared.observability import configure_logging

    from energychain_billing import SERVICE_NAME
    from energychain_billing.bootstrap import build_context
    from energychain_billing.worker import run_worker

    settings = _settings()
    _preflight(settings)
    configure_logging(SERVICE_NAME, settings.log_level)

    async def go() -> None:
        await ensure_topics(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        ctx = await build_context(settings)
        producer = make_producer(settings, client_id="billing-worker")
        await producer.start()
        try:
            await run_worker(ctx, producer, stop)
        finally:
            await producer.stop()
            await ctx.pool.close()

    asyncio.run(go())


@app.command()
def bench(
    houses: Annotated[int, typer.Option(min=1, help="Generated houses.")] = 1000,
    days: Annotated[int, typer.Option(min=1, help="Days of hourly readings per house.")] = 365,
    municipalities: Annotated[int, typer.Option(min=1)] = 10,
    data_dir: Annotated[Optional[Path], typer.Option(help="Fleet folder (generated if missing).")] = None,
) -> None:
    """Benchmark: readings billed per second, end to end from meter.readings, for a generated fleet."""
    from energychain_shared.runtime import preflight as check

    from energychain_billing.bench import run_bench

    settings = _settings()
    check(settings, kafka=True, database=True)
    run_bench(settings, houses=houses, days=days, municipalities=municipalities, data_dir=data_dir)


def main() -> None:
    """Console entry point."""
    app()
