"""`energychain-escrow`: preflight, migrate, serve the API, run the stream worker, benchmark."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from energychain_shared import service_cli


def _settings():
    from energychain_shared.settings import load_settings

    from energychain_escrow.settings import EscrowSettings

    return load_settings(EscrowSettings)


app = service_cli.service_app(
    service="escrow", settings=_settings, package="energychain_escrow",
    schema=lambda settings: settings.escrow_db_schema,
    address=lambda settings: (settings.escrow_host, settings.escrow_port),
    api="energychain_escrow.api:create_app", context="energychain_escrow.bootstrap:build_context",
    worker="energychain_escrow.worker:run_worker",
    serve_help="Serve the municipality and GSA API (EC_ESCROW_HOST:EC_ESCROW_PORT).",
    worker_help="Run the stream worker: billing's payments, invoices and past-due notices onto each escrow account.",
    help=__doc__,
)


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
