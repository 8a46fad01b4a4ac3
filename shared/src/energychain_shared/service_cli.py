"""What every stream service's command line does the same way: preflight, migrate, serve, run the worker.

Each service's `cli.py` keeps its typer commands thin and calls these; nothing here
connects before a command runs.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import typer

from energychain_shared.settings import SERVER_KEEP_ALIVE_S, CommonSettings


def fail(service: str, message: str, code: int = 2) -> None:
    """One line on stderr naming the service, then exit with ``code``."""
    print(f"energychain-{service}: {message}", file=sys.stderr)
    raise typer.Exit(code)


def preflight(settings: CommonSettings, *, service: str, kafka: bool = True) -> None:
    """Kafka, PostgreSQL, the registry, the service's private key and the token public key, or one clear line."""
    from energychain_shared import keys
    from energychain_shared.registry import load_registry
    from energychain_shared.runtime import preflight as reach

    reach(settings, kafka=kafka, database=True)
    try:
        load_registry(settings.registry_path)
    except (OSError, ValueError) as error:
        fail(service, f"EC_REGISTRY_PATH={settings.registry_path}: {str(error).splitlines()[0]}", 3)
    keys_dir = settings.resolved_keys_dir
    if not keys.private_key_path(keys_dir, service).exists():
        fail(service, f"EC_KEYS_DIR={keys_dir}: missing key {service}: run `energychain-keys init`", 3)
    if not keys.public_key_path(keys_dir, keys.TOKEN_KEY).exists():
        fail(service, f"EC_KEYS_DIR={keys_dir}: missing key {keys.TOKEN_KEY}.pub: run `energychain-keys init`", 3)


def migrate(settings: CommonSettings, *, service: str, schema: str, package: str) -> None:
    """Create or upgrade the service's schema from the SQL files shipped in ``package``."""
    import asyncpg

    from energychain_shared.pg import asyncpg_dsn
    from energychain_shared.pg import migrate as apply
    from energychain_shared.runtime import preflight as reach

    reach(settings, kafka=False, database=True)

    async def go() -> list[str]:
        connection = await asyncpg.connect(asyncpg_dsn(settings.database_url))
        try:
            return await apply(connection, schema=schema, package=package)
        finally:
            await connection.close()

    applied = asyncio.run(go())
    print(f"energychain-{service}: migrations applied: {', '.join(applied) or 'none (up to date)'}")


def serve(settings: CommonSettings, *, service: str, app: Any, host: str, port: int) -> None:
    """Serve a FastAPI app with the project's JSON logging, keeping idle connections SERVER_KEEP_ALIVE_S."""
    import uvicorn

    from energychain_shared.observability import configure_logging

    configure_logging(service, settings.log_level)
    uvicorn.run(app, host=host, port=port, log_config=None, timeout_keep_alive=SERVER_KEEP_ALIVE_S)


def run_worker(
    settings: CommonSettings, *, service: str,
    build_context: Callable[[Any], Awaitable[Any]],
    worker: Callable[[Any, Any, asyncio.Event], Awaitable[None]],
) -> None:
    """Create the topics, build the context and a producer, run ``worker`` until SIGINT/SIGTERM."""
    from energychain_shared.kafka import RenewableProducer, ensure_topics
    from energychain_shared.observability import configure_logging

    configure_logging(service, settings.log_level)

    async def go() -> None:
        await ensure_topics(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        ctx = await build_context(settings)
        producer = RenewableProducer(settings, client_id=f"{service}-worker")
        await producer.start()
        try:
            await worker(ctx, producer, stop)
        finally:
            await producer.stop()
            await ctx.pool.close()

    asyncio.run(go())


async def consume_and_relay(
    consumer: Any, *, stop: asyncio.Event, handle: Callable[[dict], Awaitable[Any]],
    after: Callable[[], Awaitable[Any]], log: Any, every_s: float = 1.0,
) -> None:
    """Poll, handle, commit offsets (after the handler's effects are durable), then ``after`` (e.g. the outbox relay).

    ``after`` also runs every ``every_s`` seconds while nothing arrives, so work decided
    elsewhere (an API's outbox rows, scheduled steps) is never left waiting for traffic.
    A failed batch is retried from the committed offsets after a pause (`poll_until_stopped`).
    """
    from energychain_shared.kafka import commit_after_effects, pause_unless_stopped, poll_until_stopped

    lock = asyncio.Lock()

    async def step() -> None:
        async with lock:
            await after()

    async def periodically() -> None:
        while not stop.is_set():
            try:
                await step()
            except Exception:  # state and outbox are durable: the next step retries
                log.exception("periodic step failed; retrying")
            await pause_unless_stopped(stop, every_s)

    async def on_batches(batches: dict) -> None:
        await handle(batches)
        await commit_after_effects(consumer)
        await step()

    ticker = asyncio.create_task(periodically())
    await consumer.start()
    try:
        await poll_until_stopped(consumer, stop, on_batches, what="batch")
    finally:
        stop.set()
        await consumer.stop()
        await ticker
