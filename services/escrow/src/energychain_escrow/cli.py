"""`energychain-escrow`: migrate, serve the API, run the stream worker, preflight, benchmark."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from energychain_shared import service_cli

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
SERVICE = "escrow"


def _settings():
    from energychain_shared.settings import load_settings

    from energychain_escrow.settings import EscrowSettings

    return load_settings(EscrowSettings)


@app.command()
def preflight() -> None:
    """Check settings, Kafka, PostgreSQL, the registry and the keys; one clear line on failure."""
    service_cli.preflight(_settings(), service=SERVICE)
    print("energychain-escrow: preflight ok")


@app.command()
def migrate() -> None:
    """Create or upgrade escrow's PostgreSQL schema (EC_ESCROW_DB_SCHEMA, default `escrow`)."""
    settings = _settings()
    service_cli.migrate(settings, service=SERVICE, schema=settings.escrow_db_schema, package="energychain_escrow")


@app.command()
def serve() -> None:
    """Serve the municipality and GSA API (EC_ESCROW_HOST:EC_ESCROW_PORT)."""
    from energychain_escrow.api import create_app

    settings = _settings()
    service_cli.preflight(settings, service=SERVICE)
    service_cli.serve(settings, service=SERVICE, app=create_app(settings), host=settings.escrow_host,
                      port=settings.escrow_port)


@app.command()
def worker() -> None:
    """Run the stream worker: billing's payments, invoices and past-due notices onto each escrow account."""
    from energychain_escrow.bootstrap import build_context
    from energychain_escrow.worker import run_worker

    settings = _settings()
    service_cli.preflight(settings, service=SERVICE)
    service_cli.run_worker(settings, service=SERVICE, build_context=build_context, worker=run_worker)


@app.command()
def bench(
    houses: Annotated[int, typer.Option(min=1, help="Generated houses.")] = 3000,
    months: Annotated[int, typer.Option(min=1, max=36, help="Months of billing from January 2021.")] = 12,
    municipalities: Annotated[int, typer.Option(min=1, help="Municipalities the houses are spread over.")] = 10,
) -> None:
    """Benchmark: a generated fleet's months of billing through the inbox and the books (schema escrow_bench)."""
    from energychain_shared.runtime import preflight as check

    from energychain_escrow.bench import run_bench

    settings = _settings()
    check(settings, kafka=False, database=True)
    asyncio.run(run_bench(settings, houses=houses, months=months, municipalities=municipalities))


def main() -> None:
    """Console entry point."""
    app()
