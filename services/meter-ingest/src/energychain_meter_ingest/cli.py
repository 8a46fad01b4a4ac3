"""`energychain-meter-ingest`: serve the ops API, replay, generate data, benchmark."""

from __future__ import annotations

import asyncio
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Optional

import typer

from energychain_meter_ingest import SERVICE_NAME

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


def _fail(message: str, code: int = 2) -> None:
    print(f"energychain-meter-ingest: {message}", file=sys.stderr)
    raise typer.Exit(code)


def _settings():
    from energychain_shared.settings import load_settings

    from energychain_meter_ingest.settings import MeterIngestSettings

    return load_settings(MeterIngestSettings)


def _sources(settings, manifest: Path | None, houses: list[str] | None):
    from energychain_meter_ingest.bootstrap import resolve_sources

    try:
        return resolve_sources(settings, manifest=manifest, houses=houses)
    except ValueError as error:
        _fail(str(error))


def _parse_time(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        _fail(f"{name}: not an ISO date-time: {text!r}")
    if value.tzinfo is None:
        _fail(f"{name}: give a time zone offset, e.g. {text}Z or {text}-07:00")
    return value


HouseOption = Annotated[
    Optional[list[str]],
    typer.Option("--house", help="house_id=path.csv (repeatable); overrides the manifest."),
]
ManifestOption = Annotated[
    Optional[Path], typer.Option(help="Manifest JSON mapping house_id -> export file (default EC_METER_INGEST_MANIFEST).")
]


@app.command()
def replay(
    house: HouseOption = None,
    manifest: ManifestOption = None,
    speed: Annotated[Optional[str], typer.Option(help="1 = real time, 3600 = 1 h/s, 0 or max = flat out.")] = None,
    from_time: Annotated[Optional[str], typer.Option("--from", help="Simulated start (ISO with offset).")] = None,
    until: Annotated[Optional[str], typer.Option(help="Stop before this simulated time (ISO with offset).")] = None,
    replay_id: Annotated[Optional[str], typer.Option(help="Names the replay and its checkpoint.")] = None,
    reset: Annotated[bool, typer.Option(help="Forget the checkpoint: start from the beginning.")] = False,
) -> None:
    """Replay exports onto Kafka with a progress bar; resumes from the checkpoint after an interruption."""
    from energychain_shared.observability import configure_logging
    from energychain_shared.runtime import preflight
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from energychain_meter_ingest.bootstrap import build_replay, open_publisher
    from energychain_meter_ingest.domain.clock import parse_speed
    from energychain_meter_ingest.replay import RefusedExport

    settings = _settings()
    configure_logging(SERVICE_NAME, settings.log_level)
    try:
        chosen_speed = parse_speed(speed if speed is not None else settings.meter_ingest_speed)
    except ValueError as error:
        _fail(f"--speed: {error}")
    start, stop = _parse_time(from_time, "--from"), _parse_time(until, "--until")
    runner = build_replay(settings, _sources(settings, manifest, house), replay_id=replay_id)
    try:
        runner.check_sources()
    except RefusedExport as error:
        _fail(str(error))
    preflight(settings, database=False)
    if reset:
        runner.checkpoints.clear()

    async def main() -> None:
        with Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[line]}"),
            TimeElapsedColumn(), transient=False,
        ) as progress:
            task = progress.add_task("replay", total=None, line="")

            async def report() -> None:
                while True:
                    s = runner.status()
                    progress.update(
                        task,
                        line=f"sim {s['sim_time']}  {s['published']:,} readings  {s['dead_lettered']:,} dead-lettered "
                        f"{s['flagged']:,} flagged  {s['readings_per_s'] or 0:,.0f}/s  [{s['state']}]",
                    )
                    await asyncio.sleep(0.5)

            reporter = asyncio.create_task(report())
            try:
                async with open_publisher(settings) as publisher:
                    await runner.run(publisher, speed=chosen_speed, from_time=start, until=stop)
            finally:
                reporter.cancel()
        print(runner.status())

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        _fail("interrupted: the next run resumes from the last checkpoint", 130)


@app.command()
def serve(house: HouseOption = None, manifest: ManifestOption = None) -> None:
    """Run the ops API (GSA only) on EC_METER_INGEST_PORT; start the replay with POST /replay/start."""
    import uvicorn
    from energychain_shared import keys
    from energychain_shared.observability import configure_logging
    from energychain_shared.runtime import preflight
    from energychain_shared.settings import SERVER_KEEP_ALIVE_S, SERVER_MAX_HEAD_BYTES

    from energychain_meter_ingest.api import create_app

    settings = _settings()
    configure_logging(SERVICE_NAME, settings.log_level)
    sources = _sources(settings, manifest, house)
    try:
        token_key = keys.load_public_key(settings.resolved_keys_dir, keys.TOKEN_KEY)
    except (FileNotFoundError, ValueError) as error:
        _fail(str(error))
    preflight(settings, database=False)
    uvicorn.run(
        create_app(settings, sources, token_public_key=token_key),
        host=settings.meter_ingest_host,
        port=settings.meter_ingest_port,
        log_config=None,
        timeout_keep_alive=SERVER_KEEP_ALIVE_S,
        h11_max_incomplete_event_size=SERVER_MAX_HEAD_BYTES,
    )


@app.command()
def generate(
    houses: Annotated[int, typer.Option(min=1)] = 1000,
    municipalities: Annotated[int, typer.Option(min=1)] = 10,
    start: Annotated[str, typer.Option(help="First local day (inclusive).")] = "2021-07-01",
    end: Annotated[str, typer.Option(help="Last local day (exclusive).")] = "2022-07-01",
    seed: int = 7,
    out: Path = Path("data/generated/fleet-1000"),
) -> None:
    """Generate a synthetic fleet: one export per house, registry.json and manifest.json."""
    from energychain_meter_ingest.adapters.fleet_files import generate_fleet

    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError as error:
        _fail(f"--start/--end: {error}")
    from rich.progress import Progress

    with Progress() as progress:
        task = progress.add_task("houses", total=houses)
        try:
            summary = generate_fleet(
                houses=houses, municipalities=municipalities, start=first, end=last, seed=seed, out=out,
                progress=lambda done: progress.update(task, completed=done),
            )
        except ValueError as error:
            _fail(str(error))
    print(f"wrote {summary.houses} houses, {summary.rows:,} rows to {summary.out} (manifest.json, registry.json)")


@app.command("generate-demo")
def generate_demo(
    seed: int = 7, out: Path = Path("data/generated/demo")
) -> None:
    """Generate the demo exports for the registry's residents into data/generated/demo/."""
    from energychain_meter_ingest.adapters.fleet_files import generate_demo as write_demo

    settings = _settings()
    summary = write_demo(registry_path=settings.registry_path, out=out, seed=seed)
    print(f"wrote {summary.houses} houses, {summary.rows:,} rows to {summary.out}")


@app.command()
def bench(
    houses: Annotated[int, typer.Option(min=1)] = 1000,
    days: Annotated[int, typer.Option(min=1)] = 365,
    municipalities: Annotated[int, typer.Option(min=1)] = 10,
    data_dir: Annotated[Optional[Path], typer.Option(help="Fleet folder (generated if missing).")] = None,
    keep_topics: bool = False,
    profile: Annotated[Optional[Path], typer.Option(help="Write a cProfile of the replay here.")] = None,
) -> None:
    """Replay a generated fleet at max speed to the real broker: readings/s and peak memory."""
    from energychain_meter_ingest.bench import run_bench

    settings = _settings()
    run_bench(settings, houses=houses, days=days, municipalities=municipalities, data_dir=data_dir,
              keep_topics=keep_topics, profile=profile)


def main() -> None:
    """Console entry point."""
    app()
