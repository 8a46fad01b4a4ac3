"""HTTP entry points: a municipality's escrow (its own), the GSA's view of every municipality's."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from starlette.responses import Response

from energychain_shared.auth import Principal, Role, require_role
from energychain_shared.problems import problem_response
from energychain_shared.registry import Municipality
from energychain_shared.service_api import create_service_app

from energychain_escrow import views
from energychain_escrow.bootstrap import build_context
from energychain_escrow.context import EscrowContext
from energychain_escrow.domain.refusals import EmptyRange, EscrowRefusal, NotAMunicipality, UnknownMunicipality
from energychain_escrow.settings import EscrowSettings

UTC = timezone.utc
MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"
# The HTTP status of each refusal of escrow's rules.
STATUS: dict[type[EscrowRefusal], int] = {NotAMunicipality: 403, UnknownMunicipality: 404, EmptyRange: 422}
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


def create_app(settings: EscrowSettings, *, context: EscrowContext | None = None) -> FastAPI:
    """Escrow's FastAPI app; the lifespan builds the context unless given (tests)."""

    app = create_service_app(settings, title="EnergyChain escrow", build_context=build_context, context=context)

    @app.exception_handler(EscrowRefusal)
    async def refused(request: Request, error: EscrowRefusal) -> Response:
        return problem_response(STATUS[type(error)], str(error), field=error.field, instance=request.url.path)

    def ctx(request: Request) -> EscrowContext:
        return request.app.state.ctx

    def own(request: Request, principal: Principal) -> Municipality:
        return views.own_municipality(ctx(request), principal.municipality_id)

    def named(request: Request, municipality_id: str) -> Municipality:
        return views.municipality_named(ctx(request), municipality_id)

    @app.get("/municipality/escrow", tags=["municipality"])
    async def my_escrow(request: Request, principal: MunicipalityPrincipal) -> dict[str, Any]:
        """The escrow balance, terms, treasury total and how far escrow has processed."""
        return await views.summary(ctx(request), own(request, principal))

    @app.get("/municipality/escrow/monthly", tags=["municipality"])
    async def my_monthly(request: Request, principal: MunicipalityPrincipal, first: MonthFrom = None, last: MonthTo = None):
        """Escrow balance by month with past-due cover marked (the Escrow chart)."""
        return await views.monthly(ctx(request), own(request, principal), first=first, last=last)

    @app.get("/municipality/escrow/movements", tags=["municipality"])
    async def my_movements(request: Request, principal: MunicipalityPrincipal, start: TimeFrom = None, end: TimeTo = None):
        """Every escrow movement between two event times."""
        return await views.movements(ctx(request), own(request, principal), start=_aware(start), end=_aware(end))

    @app.get("/municipality/escrow/rollovers", tags=["municipality"])
    async def my_rollovers(request: Request, principal: MunicipalityPrincipal):
        """Month-end rollovers into the treasury."""
        return await views.rollovers(ctx(request), own(request, principal))

    @app.get("/municipality/escrow/past-due", tags=["municipality"])
    async def my_past_due(request: Request, principal: MunicipalityPrincipal):
        """Residents currently past due and what escrow covered for them."""
        return await views.past_due(ctx(request), own(request, principal))

    @app.get("/gsa/escrow", tags=["gsa"])
    async def every_escrow(request: Request, _principal: GsaPrincipal) -> list[dict[str, Any]]:
        """The escrow summary of every municipality."""
        return await views.every_summary(ctx(request))

    @app.get("/gsa/escrow/{municipality_id}", tags=["gsa"])
    async def gsa_escrow(municipality_id: str, request: Request, _principal: GsaPrincipal):
        """One municipality's escrow summary."""
        return await views.summary(ctx(request), named(request, municipality_id))

    @app.get("/gsa/escrow/{municipality_id}/monthly", tags=["gsa"])
    async def gsa_monthly(municipality_id: str, request: Request, _principal: GsaPrincipal,
                          first: MonthFrom = None, last: MonthTo = None):
        """One municipality's escrow by month."""
        return await views.monthly(ctx(request), named(request, municipality_id), first=first, last=last)

    @app.get("/gsa/escrow/{municipality_id}/movements", tags=["gsa"])
    async def gsa_movements(municipality_id: str, request: Request, _principal: GsaPrincipal,
                            start: TimeFrom = None, end: TimeTo = None):
        """One municipality's escrow movements."""
        return await views.movements(ctx(request), named(request, municipality_id), start=_aware(start), end=_aware(end))

    @app.get("/gsa/escrow/{municipality_id}/rollovers", tags=["gsa"])
    async def gsa_rollovers(municipality_id: str, request: Request, _principal: GsaPrincipal):
        """One municipality's treasury rollovers."""
        return await views.rollovers(ctx(request), named(request, municipality_id))

    @app.get("/gsa/escrow/{municipality_id}/past-due", tags=["gsa"])
    async def gsa_past_due(municipality_id: str, request: Request, _principal: GsaPrincipal):
        """One municipality's past-due residents and escrow cover."""
        return await views.past_due(ctx(request), named(request, municipality_id))

    return app
