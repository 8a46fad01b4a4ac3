"""The program administration API (the GSA's): municipalities and residents, one at a time or in bulk.

Each change is decided by `program.register` and published on program.registry; the
answer comes after the event is published and read back, so the next request (and
this process's views) see it. 201: registered now; 200: already registered alike
(nothing changed); 409: registered with other terms (``rule`` names it); 422: a field
or rule refused (``field`` names it).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from datetime import date

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from pydantic import BaseModel, ConfigDict

from energychain_shared.auth import Principal, Role, require_role
from energychain_shared.outbox import relay
from energychain_shared.problems import problem_response
from energychain_shared.registry import (
    AmendmentRequest, Move, Municipality, RegistryConflict, RegistryRefusal, Resident,
)

from energychain_billing import program
from energychain_billing.context import BillingContext
from energychain_billing.domain.enrolment import COLUMNS, residents_of_csv

log = logging.getLogger(__name__)
GsaPrincipal = Annotated[Principal, Depends(require_role(Role.GSA))]
router = APIRouter(prefix="/admin", tags=["gsa: program administration"])
MAX_CSV_BYTES = 8 << 20


def _ctx(request: Request) -> BillingContext:
    return request.app.state.ctx


def install_program_api(app: FastAPI) -> None:
    """Add the routes and the answer to a refused change."""

    @app.exception_handler(RegistryRefusal)
    async def refused(request: Request, error: RegistryRefusal) -> Response:
        rule = error.rule or ("registered_with_other_terms" if isinstance(error, RegistryConflict) else None)
        return problem_response(error.status, f"{error.field}: {error.message}", field=error.field, rule=rule,
                                instance=request.url.path)

    app.include_router(router)


async def _registered(request: Request, outcome: program.Registration, body: Any) -> JSONResponse:
    ctx = _ctx(request)
    if outcome.created:
        try:
            await relay(ctx.engine, request.app.state.producer, schema=ctx.settings.billing_db_schema)
            if ctx.feed is not None:
                await ctx.feed.sync()
        except Exception:  # committed in the outbox: the worker's relay publishes it
            log.exception("publishing registry changes failed; left in the outbox")
    return JSONResponse(status_code=201 if outcome.created else 200, content=body)


@router.post("/municipalities", status_code=201, responses={200: {"description": "already onboarded alike"}})
async def onboard_municipality(body: Municipality, request: Request, principal: GsaPrincipal) -> JSONResponse:
    """Onboard a municipality with its time zone and escrow terms."""
    outcome = await program.register(_ctx(request), municipalities=[body], by=principal.subject)
    return await _registered(request, outcome, {**body.model_dump(mode="json"), "event_ids": outcome.event_ids})


@router.get("/municipalities")
async def municipalities(request: Request, _principal: GsaPrincipal) -> list[dict[str, Any]]:
    """Every municipality of the program (as this service last read the registry)."""
    return [m.model_dump(mode="json") for m in _ctx(request).registry.municipalities]


@router.get("/municipalities/{municipality_id}")
async def municipality(municipality_id: str, request: Request, _principal: GsaPrincipal) -> dict[str, Any]:
    """One municipality, its residents' count and the history of its registration."""
    ctx = _ctx(request)
    found = ctx.registry.by_municipality.get(municipality_id)
    if found is None:
        raise HTTPException(404, detail={"field": "municipality_id", "message": f"no municipality {municipality_id!r}"})
    residents = sum(1 for r in ctx.registry.residents if r.latest_municipality_id == municipality_id)
    return {**found.model_dump(mode="json"), "residents": residents,
            "history": await program.history(ctx, "municipality", municipality_id)}


@router.post("/residents", status_code=201, responses={200: {"description": "already enrolled alike"}})
async def enrol_resident(body: Resident, request: Request, principal: GsaPrincipal) -> JSONResponse:
    """Enrol a house with its resident's contract (rate, escalator, battery, reserve, start date, basis)."""
    outcome = await program.register(_ctx(request), residents=[body], by=principal.subject)
    return await _registered(request, outcome, {**body.model_dump(mode="json"), "event_ids": outcome.event_ids})


@router.post("/residents/bulk", status_code=201, openapi_extra={
    "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}},
                    "description": "a header line, then one resident per line; columns: " + ", ".join(COLUMNS)}},
    responses={200: {"description": "every row already enrolled alike"}})
async def enrol_residents(request: Request, principal: GsaPrincipal) -> JSONResponse:
    """Enrol every row of a CSV file, all or none (the first refused row is named ``line N: column``)."""
    raw = await request.body()
    if len(raw) > MAX_CSV_BYTES:
        raise HTTPException(413, detail={"field": "body", "message": f"at most {MAX_CSV_BYTES} bytes"})
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise HTTPException(422, detail={"field": "body", "message": "not UTF-8 text"}) from None
    residents = residents_of_csv(text)
    outcome = await program.register(_ctx(request), residents=residents, by=principal.subject)
    return await _registered(request, outcome, {"enrolled": len(outcome.created), "unchanged": len(outcome.unchanged),
                                                "rows": len(residents)})


class ContractEnd(BaseModel):
    """The contract's last day (local); the final invoice covers its partial period up to then."""

    model_config = ConfigDict(extra="forbid")

    end_date: date


@router.post("/residents/{house_id}/end", status_code=201, responses={200: {"description": "ended that day already"}})
async def end_contract(house_id: str, body: ContractEnd, request: Request, principal: GsaPrincipal) -> JSONResponse:
    """End a resident's contract (move-out) on ``end_date``: its final invoice is the partial period up to then,
    issued once the grace for late readings has passed; the house's later readings are dead-lettered."""
    outcome = await program.end_contract(_ctx(request), house_id, body.end_date, by=principal.subject)
    return await _registered(request, outcome, {"house_id": house_id, "end_date": body.end_date.isoformat(),
                                                "event_ids": outcome.event_ids})


@router.post("/residents/{house_id}/amendments", status_code=201,
             responses={200: {"description": "amended alike from that day already"}})
async def amend_contract(house_id: str, body: AmendmentRequest, request: Request, principal: GsaPrincipal) -> JSONResponse:
    """Amend a resident's contract from ``effective_date`` (rate, escalator, reserve, basis; the terms not named
    stay): the invoice of the period it falls in is split at that day."""
    outcome = await program.amend_contract(_ctx(request), house_id, body, by=principal.subject)
    return await _registered(request, outcome, {"house_id": house_id, **body.model_dump(mode="json", exclude_none=True),
                                                "event_ids": outcome.event_ids})


@router.post("/residents/{house_id}/moves", status_code=201,
             responses={200: {"description": "moved there from that day already"}})
async def move_house(house_id: str, body: Move, request: Request, principal: GsaPrincipal) -> JSONResponse:
    """Move a house to another municipality (of the same time zone) from ``effective_date``: the old municipality
    keeps what was recorded before, the new one has it from then on."""
    outcome = await program.move_house(_ctx(request), house_id, body, by=principal.subject)
    return await _registered(request, outcome, {"house_id": house_id, **body.model_dump(mode="json"),
                                                "event_ids": outcome.event_ids})


@router.get("/residents")
async def residents(request: Request, _principal: GsaPrincipal, municipality_id: str | None = None) -> list[dict[str, Any]]:
    """Every enrolled resident with its contract, amendments and moves (optionally of those that belong or
    belonged to one municipality)."""
    return [r.model_dump(mode="json") for r in _ctx(request).registry.residents
            if municipality_id is None or any(m == municipality_id for _, m in r.municipalities_from())]


@router.get("/residents/{house_id}")
async def resident(house_id: str, request: Request, _principal: GsaPrincipal) -> dict[str, Any]:
    """One resident, its contract and the history of its enrolment."""
    ctx = _ctx(request)
    found = ctx.registry.by_house.get(house_id)
    if found is None:
        raise HTTPException(404, detail={"field": "house_id", "message": f"no enrolled house {house_id!r}"})
    return {**found.model_dump(mode="json"), "history": await program.history(ctx, "resident", house_id)}
