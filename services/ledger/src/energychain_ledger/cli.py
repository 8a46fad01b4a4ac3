"""`energychain-ledger`: migrate, seed-users, add-witness, serve, consume, verify, checkpoint, check, bench, bench-readings."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from energychain_ledger.settings import LedgerSettings
from energychain_shared.settings import SERVER_KEEP_ALIVE_S, SERVER_MAX_HEAD_BYTES, load_settings

if TYPE_CHECKING:
    from energychain_ledger.adapters.store import LedgerStore

app = typer.Typer(help="EnergyChain ledger: the verifiable, double-entry system of record.", no_args_is_help=True)


def _settings() -> LedgerSettings:
    return load_settings(LedgerSettings)


@contextlib.contextmanager
def _scratch_database(settings: LedgerSettings) -> Iterator[LedgerSettings]:
    """A database of the benchmark's own, dropped afterwards: a benchmark never writes into the configured one."""
    from energychain_shared.pg import create_database, drop_database

    name = f"{settings.pg_database}_bench_{uuid.uuid4().hex[:8]}"
    admin_dsn = settings.asyncpg_dsn
    asyncio.run(create_database(admin_dsn, name))
    try:
        yield settings.model_copy(update={"pg_database": name})
    finally:
        asyncio.run(drop_database(admin_dsn, name))


def tune_gc_for_batches() -> None:
    """Fewer collections for a process that allocates a batch's objects and drops them together.

    The readings path makes a handful of short-lived objects per reading; at the default
    thresholds the collector ran every few hundred readings and cost a quarter of plan time.
    What was allocated at start (modules, settings, caches) is frozen out of every collection.
    """
    import gc

    gc.freeze()
    gc.set_threshold(200_000, 20, 100)


def _start(settings: LedgerSettings, *, kafka: bool, keys: tuple[str, ...] = ()) -> None:
    from energychain_shared.observability import configure_logging
    from energychain_shared.runtime import preflight

    configure_logging("ledger", settings.log_level)
    preflight(settings, kafka=kafka, database=True, keys=keys)


@contextlib.asynccontextmanager
async def _store(settings: LedgerSettings) -> AsyncIterator[LedgerStore]:
    """A store on one connection, without the registry (commands that only read or register)."""
    from energychain_ledger.adapters.store import LedgerStore, ledger_engine

    store = LedgerStore(ledger_engine(settings, pool_size=1), house_municipality={})
    try:
        yield store
    finally:
        await store.close()


@app.command()
def migrate() -> None:
    """Create or upgrade the `ledger` schema, then create the registry's channels."""
    from energychain_ledger.adapters.migrations import upgrade_to_head
    from energychain_ledger.bootstrap import opened_ledger

    settings = _settings()
    _start(settings, kafka=False)
    upgrade_to_head(settings)

    async def sync() -> str:
        async with opened_ledger(settings) as ledger:
            return ledger.log_vkey()

    vkey = asyncio.run(sync())
    # What a witness or a verifier pins: the checkpoints' C2SP verifier key.
    path = settings.resolved_keys_dir / "ledger.vkey"
    path.write_text(vkey + "\n")
    typer.echo(f"ledger schema at head; registry channels and producer keys registered; checkpoint key {vkey} in {path}")


@app.command("add-witness")
def add_witness(
    vkey: Annotated[str, typer.Option(help="the witness's C2SP verifier key (energychain-witness vkey)")],
    url: Annotated[Optional[str], typer.Option(help="the witness's API, asked by `verify` what it cosigned")] = None,
) -> None:
    """Register (or update) a witness whose cosignatures the ledger collects and serves."""
    from energychain_shared.tlog.note import NoteError, parse_verifier_key

    settings = _settings()
    _start(settings, kafka=False)
    try:
        name, _, _ = parse_verifier_key(vkey.strip())
    except NoteError as error:
        typer.echo(f"energychain-ledger: bad --vkey: {error}", err=True)
        raise typer.Exit(2) from None

    async def register() -> None:
        async with _store(settings) as store:
            await store.register_witness(name=name, vkey=vkey.strip(), url=url)

    asyncio.run(register())
    typer.echo(f"witness {name} registered")


@app.command("seed-users")
def seed_users(file: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="users JSON file")]) -> None:
    """Create or update the users listed in FILE (passwords hashed with argon2)."""
    from argon2 import PasswordHasher

    from energychain_ledger.users import read_user_file
    from energychain_shared.registry import load_registry

    settings = _settings()
    _start(settings, kafka=False)
    try:
        specs = read_user_file(file, load_registry(settings.registry_path))
    except ValueError as error:
        typer.echo(f"energychain-ledger: {error}", err=True)
        raise typer.Exit(2) from None
    hasher = PasswordHasher()

    async def seed() -> None:
        async with _store(settings) as store:
            for spec in specs:
                await store.upsert_user(username=spec.username, password_hash=hasher.hash(spec.password),
                                        role=spec.role, municipality_id=spec.municipality_id, house_id=spec.house_id)
                typer.echo(f"user {spec.username}: {spec.role} {spec.municipality_id or ''} {spec.house_id or ''}")

    asyncio.run(seed())


@app.command()
def serve(
    consumer: Annotated[bool, typer.Option("--consumer/--no-consumer",
                                           help="also run the append and readings consumers")] = False,
) -> None:
    """Run the HTTP API on EC_LEDGER_PORT (with --consumer, the consumers in the same process too)."""
    import uvicorn

    from energychain_ledger.api import build_app

    settings = _settings()
    _start(settings, kafka=True)  # the live registry is read from Kafka
    uvicorn.run(build_app(settings, run_consumer=consumer), host=settings.ledger_host,
                port=settings.ledger_port, log_config=None, timeout_keep_alive=SERVER_KEEP_ALIVE_S,
                h11_max_incomplete_event_size=SERVER_MAX_HEAD_BYTES)


@app.command()
def consume(client_id: Annotated[str, typer.Option(help="Kafka client id of this instance")] = "ledger") -> None:
    """Run the consumers: append requests, and meter readings (several instances share partitions)."""
    from energychain_ledger.bootstrap import opened_ledger

    settings = _settings()
    _start(settings, kafka=True, keys=("ledger",))

    async def run() -> None:
        async with opened_ledger(settings, writer=True, follow_registry=True) as ledger:
            tune_gc_for_batches()
            stop = asyncio.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                asyncio.get_running_loop().add_signal_handler(sig, stop.set)
            await ledger.consume(stop, client_id=client_id)

    asyncio.run(run())


@app.command()
def verify(
    channel: Annotated[Optional[str], typer.Option(help="one channel (default: every channel, and the whole log)")] = None,
) -> None:
    """Recompute leaves, trees, heads, signatures, postings and checkpoints; name every problem (exit 1 if any)."""
    from energychain_ledger.bootstrap import opened_ledger
    from energychain_ledger.verification import verify_channel, verify_log

    settings = _settings()
    _start(settings, kafka=False)

    def show(name: str, report) -> None:
        if report.ok:
            proved = f", proved in checkpoint {report.checkpoint}" if report.checkpoint else ""
            by = f" cosigned by {', '.join(report.cosigned_by)}" if report.cosigned_by else ""
            typer.echo(f"{name}: ok, {report.entries_checked} entries, size {report.size}{proved}{by}")
            return
        for p in report.problems:
            where = " ".join(f"{k} {v}" for k, v in (("seq", p.seq), ("entry", p.entry_id), ("posting", p.posting),
                                                      ("checkpoint", p.checkpoint)) if v is not None)
            typer.echo(f"{name}: FAILED {where}: {p.problem}: {p.detail}")

    async def run() -> int:
        failed = 0
        async with opened_ledger(settings, register_keys=False) as ledger:
            keys = await ledger.log_keys()
            names = [channel] if channel else await ledger.store.all_channels()
            for name in names:
                report = await verify_channel(ledger.store, ledger.keys, name, log_keys=keys)
                show(name, report)
                failed += not report.ok
            if channel is None:
                report = await verify_log(ledger.store, log_keys=keys)
                show(f"log of heads ({report.size} heads)", report)
                failed += not report.ok
        return failed

    raise typer.Exit(1 if asyncio.run(run()) else 0)


@app.command()
def checkpoint() -> None:
    """Print the newest signed checkpoint with its cosignatures (a C2SP signed note)."""
    from energychain_ledger.bootstrap import opened_ledger
    from energychain_shared.tlog.note import with_signatures

    settings = _settings()
    _start(settings, kafka=False)

    async def run() -> str | None:
        async with opened_ledger(settings, register_keys=False) as ledger:
            found = await ledger.store.checkpoint()
        return None if found is None else with_signatures(found["note"], list(found["cosignatures"].values()))

    text = asyncio.run(run())
    if text is None:
        typer.echo("no checkpoint yet: nothing was appended", err=True)
        raise typer.Exit(1)
    typer.echo(text, nl=False)


@app.command()
def check() -> None:
    """Double-entry check: the sum of all account balances must be zero (exit 1 if not)."""
    settings = _settings()
    _start(settings, kafka=False)

    async def run() -> tuple[int, int, int]:
        async with _store(settings) as store:
            return await store.trial_balance()

    total, accounts, postings = asyncio.run(run())
    typer.echo(json.dumps({"sum_cents": total, "accounts": accounts, "postings": postings, "balanced": total == 0}))
    raise typer.Exit(0 if total == 0 else 1)


@app.command()
def bench(
    entries: Annotated[int, typer.Option(min=1)] = 100_000,
    channels: Annotated[int, typer.Option(min=1)] = 1000,
    rate: Annotated[int, typer.Option(min=1, help="produce rate of the latency phase (entries/s)")] = 5000,
    latency_seconds: Annotated[float, typer.Option(min=1)] = 10.0,
    consumers: Annotated[int, typer.Option(min=1, max=8, help="consumer instances (extra ones are processes)")] = 1,
) -> None:
    """Throughput (pre-published backlog) and latency (steady produce rate) of the real consumer."""
    from energychain_ledger.bench import run_bench

    _run_bench(keys=("meter-ingest", "ledger"), measure=lambda scratch: run_bench(
        scratch, entries=entries, channels=channels, rate=rate, latency_seconds=latency_seconds, consumers=consumers))


@app.command("bench-readings")
def bench_readings(
    readings: Annotated[int, typer.Option(min=1)] = 50_000,
    houses: Annotated[int, typer.Option(min=1, help="bench houses the readings are spread over")] = 1000,
    proof_channel_size: Annotated[int, typer.Option(min=1, help="entries of the channel proofs are timed in")] = 10_000,
) -> None:
    """Readings/s committed and covered by a signed checkpoint (backlog and real-time batches), ceilings, proof times."""
    from energychain_ledger.bench import run_readings_bench

    _run_bench(keys=("ledger", "billing"), measure=lambda scratch: run_readings_bench(
        scratch, readings=readings, houses=houses, proof_channel_size=proof_channel_size))


def _run_bench(*, keys: tuple[str, ...], measure: Callable[[LedgerSettings], Awaitable[dict]]) -> None:
    """Preflight, then ``measure`` on a scratch database migrated to head with the collector tuned; print JSON."""
    from energychain_ledger.adapters.migrations import upgrade_to_head

    settings = _settings()
    _start(settings, kafka=True, keys=keys)
    with _scratch_database(settings) as scratch, contextlib.suppress(KeyboardInterrupt):
        upgrade_to_head(scratch)
        tune_gc_for_batches()
        typer.echo(json.dumps(asyncio.run(measure(scratch)), indent=2))


def main() -> None:
    """Console entry point."""
    app(prog_name="energychain-ledger")
    sys.exit(0)


if __name__ == "__main__":
    main()
