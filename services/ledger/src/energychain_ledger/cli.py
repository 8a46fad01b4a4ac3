"""`energychain-ledger`: migrate, seed-users, add-witness, serve, consume, verify, checkpoint, check, bench, bench-readings."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Optional

import typer

from energychain_ledger.settings import LedgerSettings
from energychain_shared.settings import SERVER_KEEP_ALIVE_S, load_settings

app = typer.Typer(help="EnergyChain ledger: the verifiable, double-entry system of record.", no_args_is_help=True)


def _settings() -> LedgerSettings:
    return load_settings(LedgerSettings)


@contextlib.contextmanager
def _scratch_database(settings: LedgerSettings) -> Iterator[LedgerSettings]:
    """A database of the benchmark's own, dropped afterwards: a benchmark never writes into the configured one."""
    from energychain_shared.pg import asyncpg_dsn, create_database, drop_database

    name = f"{settings.pg_database}_bench_{uuid.uuid4().hex[:8]}"
    admin_dsn = asyncpg_dsn(settings.database_url)
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


@app.command()
def migrate() -> None:
    """Create or upgrade the `ledger` schema, then create the registry's channels."""
    from energychain_ledger.adapters.migrations import upgrade_to_head
    from energychain_ledger.bootstrap import open_ledger

    settings = _settings()
    _start(settings, kafka=False)
    upgrade_to_head(settings)

    async def sync() -> str:
        ledger = await open_ledger(settings)
        try:
            return ledger.log_vkey()
        finally:
            await ledger.close()

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
    from energychain_ledger.adapters.store import LedgerStore, make_pool
    from energychain_shared.tlog.note import NoteError, parse_verifier_key

    settings = _settings()
    _start(settings, kafka=False)
    try:
        name, _, _ = parse_verifier_key(vkey.strip())
    except NoteError as error:
        typer.echo(f"energychain-ledger: bad --vkey: {error}", err=True)
        raise typer.Exit(2) from None

    async def register() -> None:
        pool = await make_pool(settings, size=1)
        try:
            await LedgerStore(pool, house_municipality={}).register_witness(name=name, vkey=vkey.strip(), url=url)
        finally:
            await pool.close()

    asyncio.run(register())
    typer.echo(f"witness {name} registered")


@app.command("seed-users")
def seed_users(file: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="users JSON file")]) -> None:
    """Create or update the users listed in FILE (passwords hashed with argon2)."""
    from argon2 import PasswordHasher

    from energychain_ledger.adapters.store import LedgerStore, make_pool
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
        pool = await make_pool(settings, size=1)
        try:
            store = LedgerStore(pool, house_municipality={})
            for spec in specs:
                await store.upsert_user(username=spec.username, password_hash=hasher.hash(spec.password),
                                        role=spec.role, municipality_id=spec.municipality_id, house_id=spec.house_id)
                typer.echo(f"user {spec.username}: {spec.role} {spec.municipality_id or ''} {spec.house_id or ''}")
        finally:
            await pool.close()

    asyncio.run(seed())


@app.command()
def serve(
    consumer: Annotated[bool, typer.Option("--consumer/--no-consumer", help="also run the append consumer")] = False,
) -> None:
    """Run the HTTP API on EC_LEDGER_PORT (with --consumer, the append consumer in the same process too)."""
    import uvicorn

    from energychain_ledger.api import build_app

    settings = _settings()
    _start(settings, kafka=consumer)
    uvicorn.run(build_app(settings, run_consumer=consumer), host=settings.ledger_host,
                port=settings.ledger_port, log_config=None, timeout_keep_alive=SERVER_KEEP_ALIVE_S)


@app.command()
def consume(client_id: Annotated[str, typer.Option(help="Kafka client id of this instance")] = "ledger") -> None:
    """Run the consumers: append requests, and meter readings (several instances share partitions)."""
    from energychain_ledger.bootstrap import open_ledger

    settings = _settings()
    _start(settings, kafka=True, keys=("ledger",))

    async def run() -> None:
        ledger = await open_ledger(settings, writer=True)
        await ledger.ensure_topics()
        tune_gc_for_batches()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        producer = ledger.make_producer(client_id=f"{client_id}-dead-letters")
        await producer.start()
        kafka_consumer, loop = ledger.make_consumer(client_id=client_id, producer=producer)
        await kafka_consumer.start()
        loops = [loop.run(stop)]
        readings_consumer = None
        if settings.ledger_record_readings:
            readings_consumer, readings_loop = ledger.make_readings_consumer(
                client_id=f"{client_id}-readings", producer=producer
            )
            await readings_consumer.start()
            loops.append(readings_loop.run(stop))

        async def until_stopped(run_loop) -> None:
            # One loop failing stops the other too, so it commits its batch in flight before exit.
            try:
                await run_loop
            finally:
                stop.set()

        try:
            results = await asyncio.gather(*map(until_stopped, loops), return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result
        finally:
            await kafka_consumer.stop()
            if readings_consumer is not None:
                await readings_consumer.stop()
            await producer.stop()
            await ledger.close()

    asyncio.run(run())


@app.command()
def verify(
    channel: Annotated[Optional[str], typer.Option(help="one channel (default: every channel, and the whole log)")] = None,
) -> None:
    """Recompute leaves, trees, heads, signatures, postings and checkpoints; name every problem (exit 1 if any)."""
    from energychain_ledger.bootstrap import open_ledger
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
        ledger = await open_ledger(settings, register_keys=False)
        failed = 0
        try:
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
        finally:
            await ledger.close()
        return failed

    raise typer.Exit(1 if asyncio.run(run()) else 0)


@app.command()
def checkpoint() -> None:
    """Print the newest signed checkpoint with its cosignatures (a C2SP signed note)."""
    from energychain_ledger.bootstrap import open_ledger
    from energychain_shared.tlog.note import with_signatures

    settings = _settings()
    _start(settings, kafka=False)

    async def run() -> str | None:
        ledger = await open_ledger(settings, register_keys=False)
        try:
            found = await ledger.store.checkpoint()
            return None if found is None else with_signatures(found["note"], list(found["cosignatures"].values()))
        finally:
            await ledger.close()

    text = asyncio.run(run())
    if text is None:
        typer.echo("no checkpoint yet: nothing was appended", err=True)
        raise typer.Exit(1)
    typer.echo(text, nl=False)


@app.command()
def check() -> None:
    """Double-entry check: the sum of all account balances must be zero (exit 1 if not)."""
    from energychain_ledger.adapters.store import LedgerStore, make_pool

    settings = _settings()
    _start(settings, kafka=False)

    async def run() -> tuple[int, int, int]:
        pool = await make_pool(settings, size=1)
        try:
            return await LedgerStore(pool, house_municipality={}).trial_balance()
        finally:
            await pool.close()

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
    from energychain_ledger.adapters.migrations import upgrade_to_head
    from energychain_ledger.bench import run_bench

    settings = _settings()
    _start(settings, kafka=True, keys=("meter-ingest", "ledger"))
    with _scratch_database(settings) as scratch, contextlib.suppress(KeyboardInterrupt):
        upgrade_to_head(scratch)
        tune_gc_for_batches()
        report = asyncio.run(run_bench(scratch, entries=entries, channels=channels, rate=rate,
                                       latency_seconds=latency_seconds, consumers=consumers))
        typer.echo(json.dumps(report, indent=2))


@app.command("bench-readings")
def bench_readings(
    readings: Annotated[int, typer.Option(min=1)] = 50_000,
    houses: Annotated[int, typer.Option(min=1, help="bench houses the readings are spread over")] = 1000,
    proof_channel_size: Annotated[int, typer.Option(min=1, help="entries of the channel proofs are timed in")] = 10_000,
) -> None:
    """Readings/s committed and covered by a signed checkpoint (backlog and real-time batches), ceilings, proof times."""
    from energychain_ledger.adapters.migrations import upgrade_to_head
    from energychain_ledger.bench import run_readings_bench

    settings = _settings()
    _start(settings, kafka=True, keys=("ledger", "billing"))
    with _scratch_database(settings) as scratch, contextlib.suppress(KeyboardInterrupt):
        upgrade_to_head(scratch)
        tune_gc_for_batches()
        report = asyncio.run(run_readings_bench(scratch, readings=readings, houses=houses,
                                                proof_channel_size=proof_channel_size))
        typer.echo(json.dumps(report, indent=2))


def main() -> None:
    """Console entry point."""
    app(prog_name="energychain-ledger")
    sys.exit(0)


if __name__ == "__main__":
    main()
