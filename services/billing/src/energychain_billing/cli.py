"""`energychain-billing`: migrate, serve the API, run the stream worker, preflight, benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from energychain_shared import service_cli

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
SERVICE = "billing"


def _settings():
    from energychain_shared.settings import load_settings

    from energychain_billing.settings import BillingSettings

    return load_settings(BillingSettings)


@app.command()
def preflight() -> None:
    """Check settings, Kafka, PostgreSQL, the registry and the keys; one clear line on failure."""
    service_cli.preflight(_settings(), service=SERVICE)
    print("energychain-billing: preflight ok")


@app.command()
def migrate() -> None:
    """Create or upgrade billing's PostgreSQL schema (EC_BILLING_DB_SCHEMA, default `billing`)."""
    settings = _settings()
    service_cli.migrate(settings, service=SERVICE, schema=settings.billing_db_schema, package="energychain_billing")


@app.command()
def serve() -> None:
    """Serve the resident, municipality and GSA API (EC_BILLING_HOST:EC_BILLING_PORT)."""
    from energychain_billing.api import create_app

    settings = _settings()
    service_cli.preflight(settings, service=SERVICE)
    service_cli.serve(settings, service=SERVICE, app=create_app(settings), host=settings.billing_host,
                      port=settings.billing_port)


@app.command()
def worker() -> None:
    """Run the stream worker: readings and watermarks (invoices, past due), trade settlements."""
    from energychain_billing.bootstrap import build_context
    from energychain_billing.worker import run_worker

    settings = _settings()
    service_cli.preflight(settings, service=SERVICE)
    service_cli.run_worker(settings, service=SERVICE, build_context=build_context, worker=run_worker)


@app.command()
def bench(
    houses: Annotated[int, typer.Option(min=1, help="Generated houses.")] = 1000,
    days: Annotated[int, typer.Option(min=1, help="Days of hourly readings per house.")] = 365,
    municipalities: Annotated[int, typer.Option(min=1)] = 10,
    data_dir: Annotated[Optional[Path], typer.Option(help="Fleet folder (generated if missing).")] = None,
) -> None:
    """Benchmark: readings billed per second, end to end from meter.readings, for a generated fleet."""
    from energychain_shared.runtime import preflight as reach

    from energychain_billing.bench import run_bench

    settings = _settings()
    reach(settings, kafka=True, database=True)
    run_bench(settings, houses=houses, days=days, municipalities=municipalities, data_dir=data_dir)


def main() -> None:
    """Console entry point."""
    app()
