"""`energychain-escrow`: migrate, serve the API, run the stream worker, preflight."""

from __future__ import annotations

import asyncio
import signal
import sys

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


def _settings():
    from energychain_shared.settings import load_settings

    from energychain_escrow.settings import EscrowSettings

    return load_settings(EscrowSettings)


def _fail(message: str, code: int = 2) -> None:
    print(f"energychain-escrow: {message}", file=sys.stderr)
    raise typer.Exit(code)


def _preflight(settings, *, kafka: bool = True) -> None:
    from energychain_shared import keys
    from energychain_shared.registry import load_registry
    from energychain_shared.runtime import preflight

    from energychain_escrow import SERVICE_NAME

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
    print("energychain-escrow: preflight ok")


@app.command()
def migrate() -> None:
    """Create or upgrade escrow's PostgreSQL schema (EC_ESCROW_DB_SCHEMA, default `escrow`)."""
    import asyncpg

    from energychain_shared.pg import migrate as run_migrations
    from energychain_shared.runtime import preflight as check

    settings = _settings()
    check(settings, kafka=False, database=True)

    async def go() -> list[str]:
        connection = await asyncpg.connect(settings.asyncpg_dsn)
        try:
            return await run_migrations(connection, schema=settings.escrow_db_schema, package="energychain_escrow")
        finally:
            await connection.close()

    applied = asyncio.run(go())
    print(f"energychain-escrow: migrations applied: {', '.join(applied) or 'none (up to date)'}")


@app.command()
def serve() -> None:
    """Serve the municipality and GSA API (EC_ESCROW_HOST:EC_ESCROW_PORT)."""
    import uvicorn

    from energychain_shared.observability import configure_logging

    from energychain_escrow import SERVICE_NAME
    from energychain_escrow.api import create_app

    settings = _settings()
    _preflight(settings)
    configure_logging(SERVICE_NAME, settings.log_level)
    uvicorn.run(create_app(settings), host=settings.escrow_host, port=settings.escrow_port, log_config=None)


@app.command()
def worker() -> None:
    """Run the stream worker: billing's payments, invoices and past-due notices onto each escrow account."""
    from energychain_shared.kafka import ensure_topics, make_producer
    from energychain_shared.observability import configure_logging

    from energychain_escrow import SERVICE_NAME
    from energychain_escrow.bootstrap import build_context
    from energychain_escrow.worker import run_worker

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
        producer = make_producer(settings, client_id="escrow-worker")
        await producer.start()
        try:
            await run_worker(ctx, producer, stop)
        finally:
            await producer.stop()
            await ctx.pool.close()

    asyncio.run(go())


def main() -> None:
    """Console entry point."""
    app()
