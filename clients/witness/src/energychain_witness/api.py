"""The witness's HTTP API: /healthz, /metrics and GET /status (what it cosigned, what it watches, what it refused)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from energychain_witness.rounds import Witness
from energychain_witness.service import status_document


def create_app(witness: Witness) -> FastAPI:
    """The API of one running witness (its routes read the store on the round loop's thread)."""
    app = FastAPI(title=f"EnergyChain witness {witness.name}", version="0.1.0",
                  description="A witness of the EnergyChain ledger's log: the checkpoints it cosigned and refused.")

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", tags=["operations"])
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/status", tags=["witness"])
    async def status() -> dict[str, Any]:
        """Name, verifier key, the last cosigned checkpoint, the watched channels and the last 100 refusals."""
        last = witness.last_round.as_dict() if witness.last_round is not None else None
        return status_document(witness.name, witness.vkey, witness.store, mode=witness.mode, last_round=last,
                               last_error=witness.last_error)

    return app
