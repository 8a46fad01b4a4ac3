"""The web server: the built single-page app, the /api/<service>/ proxy, and /healthz."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from fastapi import FastAPI, HTTPException
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from energychain_shared.problems import install_problem_details
from energychain_shared.settings import CLIENT_KEEPALIVE_EXPIRY_S
from energychain_web.proxy import proxy_router
from energychain_web.settings import WebSettings

NOT_BUILT = (
    "<!doctype html><title>EnergyChain</title><h1>The web app is not built</h1>"
    "<p>Run <code>web/build.sh</code>, then reload.</p>"
)


def spa_file(dist: Path, path: str) -> Path | None:
    """The file of the built app that answers ``path``: a real file, else index.html (client-side routes)."""
    index = dist / "index.html"
    if not index.is_file():
        return None
    candidate = (dist / path).resolve()
    if path and candidate.is_file() and candidate.is_relative_to(dist.resolve()):
        return candidate
    return index


def create_app(settings: WebSettings, *, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """The FastAPI app; the lifespan opens the proxy's HTTP clients (``transport``: tests): one pooling
    connections, which it drops after CLIENT_KEEPALIVE_EXPIRY_S idle (before the services close theirs), and
    one keeping none, which repeats a request whose pooled connection the service had closed."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pooled = httpx.Limits(max_connections=100, max_keepalive_connections=20,
                              keepalive_expiry=CLIENT_KEEPALIVE_EXPIRY_S)
        unpooled = httpx.Limits(max_connections=100, max_keepalive_connections=0)
        timeout = settings.web_proxy_timeout_s
        async with (
            httpx.AsyncClient(timeout=timeout, limits=pooled, transport=transport) as client,
            httpx.AsyncClient(timeout=timeout, limits=unpooled, transport=transport) as fresh,
        ):
            app.state.http = client
            app.state.http_fresh = fresh
            yield

    app = FastAPI(title="EnergyChain web", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None)
    # A year of hourly readings for several houses is megabytes of JSON; it compresses ~10x.
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    # Refusals as problem details, and hostile input refused before it is forwarded.
    install_problem_details(app)

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, object]:
        return {"status": "ok", "app_built": (settings.web_dist_dir / "index.html").is_file()}

    app.include_router(proxy_router(settings.upstreams()))

    @app.api_route("/api/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    async def unknown_api(rest: str) -> None:
        raise HTTPException(404, detail="service: use /api/<service>/<path>")

    # Mounted only when built; a later build needs a restart to serve new asset names, which the
    # fallback below covers anyway (it serves any file under dist).
    assets = settings.web_dist_dir / "assets"
    if assets.is_dir():
        app.mount("/assets", StaticFiles(directory=assets), name="assets")

    @app.get("/{path:path}", include_in_schema=False)
    async def single_page_app(path: str):
        found = spa_file(settings.web_dist_dir, path)
        if found is None:
            return HTMLResponse(NOT_BUILT, status_code=503)
        headers = {"Cache-Control": "no-cache"} if found.name == "index.html" else {}
        return FileResponse(found, headers=headers)

    return app
