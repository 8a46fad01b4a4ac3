"""What every stream service's HTTP app does the same way: its context, its producer, health, the token key.

billing, escrow and gsa-market each build a context (settings, registry, the SQLAlchemy
engine) in `bootstrap.build_context`; their FastAPI apps start from `create_service_app`
and add their own routes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from energychain_shared import keys
from energychain_shared.auth import Revocations
from energychain_shared.kafka import RenewableProducer
from energychain_shared.migrations import assert_migrated
from energychain_shared.observability import install_health
from energychain_shared.problems import install_problem_details
from energychain_shared.revocation_feed import follow_revocations
from energychain_shared.settings import CommonSettings


def create_service_app(
    settings: CommonSettings, *, title: str, build_context: Callable[[Any], Awaitable[Any]],
    context: Any | None = None, producer_client_id: str | None = None, producer: Any | None = None,
    background: tuple[Callable[[FastAPI], Awaitable[None]], ...] = (), max_body_bytes: int | None = None,
) -> FastAPI:
    """A FastAPI app whose lifespan builds the service's context (and a producer when
    ``producer_client_id`` is given) unless the caller passes them (tests), with the token
    public key loaded and `/healthz`, `/readyz`, `/metrics`, refusals as problem details
    (energychain_shared.problems); readiness asks whether the service's schema is migrated
    (``migrations.assert_migrated`` on the context's engine). The context has ``engine`` and ``close()``.
    Each of ``background`` runs as a task for the app's lifetime (cancelled at shutdown), and so does
    the refresh of the ledger's revocation list (``revocation_feed``) and, when the context has a ``feed``, the
    live registry's (``registry_feed``).
    """
    owns_context = context is None
    owns_producer = producer is None and producer_client_id is not None

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.ctx = context or await build_context(settings)
        app.state.producer = producer
        if owns_producer:
            app.state.producer = RenewableProducer(settings, client_id=producer_client_id)
            await app.state.producer.start()
        tasks = [asyncio.create_task(run(app)) for run in background]
        tasks.append(asyncio.create_task(follow_revocations(app.state.revocations, settings)))
        if getattr(app.state.ctx, "feed", None) is not None:  # the live registry (registry_feed)
            tasks.append(asyncio.create_task(app.state.ctx.feed.follow()))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if owns_producer:
                await app.state.producer.stop()
            if owns_context:
                await app.state.ctx.close()

    app = FastAPI(title=title, version="0.1.0", lifespan=lifespan)
    if context is not None:  # given by the caller (tests): usable without running the lifespan
        app.state.ctx, app.state.producer = context, producer
    app.state.token_public_key = keys.load_public_key(settings.resolved_keys_dir, keys.TOKEN_KEY)
    app.state.revocations = Revocations()  # refreshed from the ledger while the app runs

    async def schema_migrated() -> None:
        await assert_migrated(app.state.ctx.engine)

    install_health(app, {"database": schema_migrated})
    if max_body_bytes is None:
        install_problem_details(app)
    else:
        install_problem_details(app, max_body_bytes=max_body_bytes)
    return app
