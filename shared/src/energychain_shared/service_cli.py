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

from energychain_shared.settings import SERVER_KEEP_ALIVE_S, SERVER_MAX_HEAD_BYTES, CommonSettings


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
    """Create or upgrade the service's schema with its Alembic revisions (`energychain_shared.migrations`)."""
    from energychain_shared.migrations import current_revision, upgrade
    from energychain_shared.runtime import preflight as reach

    reach(settings, kafka=False, database=True)
    before = current_revision(settings, package=package, schema=schema)
    upgrade(settings, package=package, schema=schema)
    after = current_revision(settings, package=package, schema=schema)
    change = "up to date" if before == after else f"from {before or 'nothing'}"
    print(f"energychain-{service}: schema {schema} at revision {after} ({change})")


def serve(settings: CommonSettings, *, service: str, app: Any, host: str, port: int) -> None:
    """Serve a FastAPI app with the project's JSON logging, keeping idle connections SERVER_KEEP_ALIVE_S and
    reading request heads up to SERVER_MAX_HEAD_BYTES."""
    import uvicorn

    from energychain_shared.observability import configure_logging

    configure_logging(service, settings.log_level)
    uvicorn.run(app, host=host, port=port, log_config=None, timeout_keep_alive=SERVER_KEEP_ALIVE_S,
                h11_max_incomplete_event_size=SERVER_MAX_HEAD_BYTES)


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
        feed = getattr(ctx, "feed", None)  # the live registry (registry_feed), read in the background
        following = None if feed is None else asyncio.create_task(feed.follow())
        try:
            await worker(ctx, producer, stop)
        finally:
            if following is not None:
                following.cancel()
                await asyncio.gather(following, return_exceptions=True)
            await producer.stop()
            await ctx.close()

    asyncio.run(go())


def _load(target: str) -> Any:
    """``"package.module:name"`` imported when a command runs, never at import time."""
    from importlib import import_module

    module, _, name = target.partition(":")
    return getattr(import_module(module), name)


def service_app(
    *, service: str, settings: Callable[[], CommonSettings], package: str, schema: Callable[[Any], str],
    address: Callable[[Any], tuple[str, int]], api: str, context: str, worker: str,
    serve_help: str, worker_help: str, check: Callable[[Any], None] | None = None, help: str | None = None,
) -> typer.Typer:
    """The commands every stream service has: preflight, migrate, serve, worker; the service adds its own.

    ``api``, ``context`` and ``worker`` name (``module:attr``) the app factory, the context
    builder and the worker coroutine; ``check`` is a service's extra preflight step.
    """
    app = typer.Typer(add_completion=False, no_args_is_help=True, help=help)

    def ready(loaded: Any) -> None:
        preflight(loaded, service=service)
        if check is not None:
            check(loaded)

    @app.command("preflight")
    def preflight_command() -> None:
        """Check settings, Kafka, PostgreSQL, the registry and the keys; one clear line on failure."""
        ready(settings())
        print(f"energychain-{service}: preflight ok")

    @app.command("migrate")
    def migrate_command() -> None:
        """Create or upgrade the service's PostgreSQL schema (Alembic; EC_<SERVICE>_DB_SCHEMA)."""
        loaded = settings()
        migrate(loaded, service=service, schema=schema(loaded), package=package)

    @app.command("serve", help=serve_help)
    def serve_command() -> None:
        loaded = settings()
        ready(loaded)
        host, port = address(loaded)
        serve(loaded, service=service, app=_load(api)(loaded), host=host, port=port)

    @app.command("worker", help=worker_help)
    def worker_command() -> None:
        loaded = settings()
        ready(loaded)
        run_worker(loaded, service=service, build_context=_load(context), worker=_load(worker))

    return app
