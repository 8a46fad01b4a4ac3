"""`energychain-billing`: migrate, serve the API, run the stream worker, preflight, benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from energychain_shared.service_cli import service_app


def _settings():
    from energychain_shared.settings import load_settings

    from energychain_billing.settings import BillingSettings

    return load_settings(BillingSettings)


app = service_app(
    service="billing", settings=_settings, package="energychain_billing",
    schema=lambda s: s.billing_db_schema, address=lambda s: (s.billing_host, s.billing_port),
    api="energychain_billing.api:create_app", context="energychain_billing.bootstrap:build_context",
    worker="energychain_billing.worker:run_worker",
    serve_help="Serve the resident, municipality and GSA API (EC_BILLING_HOST:EC_BILLING_PORT).",
    worker_help="Run the stream worker: readings and watermarks (invoices, past due), trade settlements.",
    help=__doc__,
)


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


@app.command("bench-enrolment")
def bench_enrolment(
    houses: Annotated[int, typer.Option(min=1, help="Generated houses, enrolled in one CSV upload.")] = 10_000,
    days: Annotated[int, typer.Option(min=1, help="Days of hourly readings per house, replayed and billed.")] = 1,
    municipalities: Annotated[int, typer.Option(min=1)] = 10,
) -> None:
    """Benchmark: a fleet enrolled through the administration API, then replayed and billed (with the ceilings)."""
    from energychain_shared.runtime import preflight as reach

    from energychain_billing.bench_enrolment import run_bench

    settings = _settings()
    reach(settings, kafka=True, database=True)
    run_bench(settings, houses=houses, days=days, municipalities=municipalities)


def main() -> None:
    """Console entry point."""
    app()
