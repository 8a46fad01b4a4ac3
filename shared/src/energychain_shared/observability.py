"""JSON logging, Prometheus metrics, and /healthz + /readyz for every service."""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pythonjsonlogger.json import JsonFormatter

ReadinessCheck = Callable[[], Awaitable[None]]


def configure_logging(service: str, level: str = "INFO") -> None:
    """One JSON object per line on stderr, tagged with the service name."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            static_fields={"service": service},
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))


def health_router(checks: dict[str, ReadinessCheck]) -> APIRouter:
    """Routes: /healthz (process alive), /readyz (every check passes), /metrics (Prometheus)."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz(response: Response) -> dict[str, object]:
        failures: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await check()
            except Exception as error:  # a readiness probe reports, it never raises
                failures[name] = f"{type(error).__name__}: {error}"
        if failures:
            response.status_code = 503
            return {"status": "unavailable", "failures": failures}
        return {"status": "ready", "checks": sorted(checks)}

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def install_health(app: FastAPI, checks: dict[str, ReadinessCheck]) -> None:
    """Add the operations routes to ``app``."""
    app.include_router(health_router(checks))
