"""HTTP entry points: a municipality's escrow (its own), the GSA's view of every municipality's."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request

from energychain_shared.auth import Principal, Role, require_role
from energychain_shared.registry import Municipality
from energychain_shared.service_api import create_service_app

from energychain_escrow import service
from energychain_escrow.bootstrap import build_context
from energychain_escrow.settings import EscrowSettings

UTC = timezone.utc
MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"
MunicipalityPrincipal = Annotated[Principal, Depends(require_role(Role.MUNICIPALITY))]
GsaPrincipal = Annotated[Principal, Depends(require_role(Role.GSA))]
MonthFrom = Annotated[str | None, Query(alias="from", pattern=MONTH, description="first month, YYYY-MM")]
MonthTo = Annotated[str | None, Query(alias="to", pattern=MONTH, description="last month, YYYY-MM")]
TimeFrom = Annotated[datetime | None, Query(alias="from", description="event time from (ISO-8601)")]
TimeTo = Annotated[datetime | None, Query(alias="to", description="event time to, exclusive (ISO-8601)")]


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def create_app(settings: EscrowSettings, *, context: service.EscrowContext | None = None) -> FastAPI:
    """Escrow's FastAPI app; the lifespan builds the context unless given (tests)."""

    app = create_service_app(settings, title="EnergyChain escrow", build_context=build_context, context=context)

    def ctx(request: Request) -> service.EscrowContext:
        return request.app.state.ctx

    def own(request: Request, principal: Principal) -> Municipality:
        municipality = ctx(request).municipality(principal.municipality_id or "")
        if municipality is None:
            raise HTTPException(403, detail={"field": "token", "message": "no registered municipality in the token"})
        return municipality

    def named(request: Request, municipality_id: str) -> Municipality:
        municipality = ctx(request).municipality(municipality_id)
        if municipality is None:
            raise HTTPException(404, detail={"field": "municipality_id", "message": f"no municipality {municipality_id!r}"})
        return municipality

    def _range(start: datetime | None, end: datetime | None) -> tuple[datetime | None, datetime | None]:
        start, end = _aware(start), _aware(end)
        if start and end and end <= start:
            raise HTTPException(422, detail={"field": "to", "message": "must be after from"})
        return start, end

    # Each view once, served to the municipality for itself and to the GSA for any municipality.
    async def view_summary(request: Request, m: Municipality) -> dict[str, Any]:
        return await service.summary(ctx(request), m)

    async def view_monthly(request: Request, m: Municipality, first: str | None, last: str | None) -> list[dict]:
        if first and last and last < first:
            raise HTTPException(422, detail={"field": "to", "message": "must not be before from"})
        return await service.monthly(ctx(request), m, first=first, last=last)

    async def view_movements(request: Request, m: Municipality, start, end) -> list[dict]:
        start, end = _range(start, end)
        return await service.movements(ctx(request), m, start=start, end=end)

    async def view_rollovers(request: Request, m: Municipality) -> list[dict]:
        rows = await service.movements(ctx(request), m, kinds=["treasury_rollover"])
        return [{"month": r["month"], "occurred_at": r["occurred_at"], "amount_cents": -r["amount_cents"]} for r in rows]

    @app.get("/municipality/escrow", tags=["municipality"])
    async def my_escrow(request: Request, principal: MunicipalityPrincipal) -> dict[str, Any]:
        """The escrow balance, terms, treasury total and how far escrow has processed."""
        return await view_summary(request, own(request, principal))

    @app.get("/municipality/escrow/monthly", tags=["municipality"])
    async def my_monthly(request: Request, principal: MunicipalityPrincipal, first: MonthFrom = None, last: MonthTo = None):
        """Escrow balance by month with past-due cover marked (the Escrow chart)."""
        return await view_monthly(request, own(request, principal), first, last)

    @app.get("/municipality/escrow/movements", tags=["municipality"])
    async def my_movements(request: Request, principal: MunicipalityPrincipal, start: TimeFrom = None, end: TimeTo = None):
        """Every escrow movement between two event times."""
        return await view_movements(request, own(request, principal), start, end)

    @app.get("/municipality/escrow/rollovers", tags=["municipality"])
    async def my_rollovers(request: Request, principal: MunicipalityPrincipal):
        """Month-end rollovers into the treasury."""
        return await view_rollovers(request, own(request, principal))

    @app.get("/municipality/escrow/past-due", tags=["municipality"])
    async def my_past_due(request: Request, principal: MunicipalityPrincipal):
        """Residents currently past due and what escrow covered for them."""
        return await service.past_due(ctx(request), own(request, principal))

    @app.get("/gsa/escrow", tags=["gsa"])
    async def every_escrow(request: Request, _principal: GsaPrincipal) -> list[dict[str, Any]]:
        """The escrow summary of every municipality."""
        return [await service.summary(ctx(request), m) for m in ctx(request).registry.municipalities]

    @app.get("/gsa/escrow/{municipality_id}", tags=["gsa"])
    async def gsa_escrow(municipality_id: str, request: Request, _principal: GsaPrincipal):
        """One municipality's escrow summary."""
        return await view_summary(request, named(request, municipality_id))

    @app.get("/gsa/escrow/{municipality_id}/monthly", tags=["gsa"])
    async def gsa_monthly(municipality_id: str, request: Request, _principal: GsaPrincipal,
                          first: MonthFrom = None, last: MonthTo = None):
        """One municipality's escrow by month."""
        return await view_monthly(request, named(request, municipality_id), first, last)

    @app.get("/gsa/escrow/{municipality_id}/movements", tags=["gsa"])
    async def gsa_movements(municipality_id: str, request: Request, _principal: GsaPrincipal,
                            start: TimeFrom = None, end: TimeTo = None):
        """One municipality's escrow movements."""
        return await view_movements(request, named(request, municipality_id), start, end)

    @app.get("/gsa/escrow/{municipality_id}/rollovers", tags=["gsa"])
    async def gsa_rollovers(municipality_id: str, request: Request, _principal: GsaPrincipal):
        """One municipality's treasury rollovers."""
        return await view_rollovers(request, named(request, municipality_id))

    @app.get("/gsa/escrow/{municipality_id}/past-due", tags=["gsa"])
    async def gsa_past_due(municipality_id: str, request: Request, _principal: GsaPrincipal):
        """One municipality's past-due residents and escrow cover."""
        return await service.past_due(ctx(request), named(request, municipality_id))

    return app
