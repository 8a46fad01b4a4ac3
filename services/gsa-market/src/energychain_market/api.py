"""HTTP entry points: the resident's offers and the GSA's market views; thin over the use cases."""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from energychain_shared.auth import Principal, Role, require_role
from energychain_shared.outbox import relay
from energychain_shared.problems import problem_response
from energychain_shared.service_api import create_service_app

from energychain_market import fleet_feed, offers as offer_cases, views
from energychain_market.bootstrap import build_context
from energychain_market.context import MarketContext
from energychain_market.domain.fleet import instant
from energychain_market.domain.fleet_view import FleetView
from energychain_market.domain.offers import (
    ALLOWED_RESERVE_PERCENTS, OfferConflict, OfferNotFound, OfferRefused, OfferRequest,
)
from energychain_market.settings import MarketSettings

log = logging.getLogger(__name__)
UTC = timezone.utc
MAX_RANGE_DAYS = 400
# Most specific first: a refusal's class says which HTTP status it is.
REFUSAL_STATUS = ((OfferNotFound, 404), (OfferConflict, 409), (OfferRefused, 422))


class OfferBody(BaseModel):
    """A resident's offer: share of the reserve, delivery day, minimum price."""

    model_config = ConfigDict(extra="forbid")

    reserve_percent: int = Field(description=f"one of {list(ALLOWED_RESERVE_PERCENTS)}")
    delivery_day: date = Field(description="a local day after the current simulated day")
    min_price_usd_per_kwh: Decimal = Field(description="between the current PPA rate and the maximum ($1.00)")


Resident = Annotated[Principal, Depends(require_role(Role.RESIDENT))]
Gsa = Annotated[Principal, Depends(require_role(Role.GSA))]
Municipal = Annotated[Principal, Depends(require_role(Role.MUNICIPALITY))]
WindowKind = Literal["hour", "day"]
MAX_FLEET_HOURS = 24 * 31


def _fleet_windows(view: FleetView, kind: str, hours: int, municipality_id: str | None) -> dict[str, Any]:
    """The windows of the last ``hours`` before the newest window's end, as the API serves them."""
    since = None if view.newest_end is None else view.newest_end - hours * 3600
    rows = view.windows(kind, municipality_id=municipality_id, since=since)
    for row in rows:
        row["start"], row["end"] = instant(row["start"]).isoformat(), instant(row["end"]).isoformat()
    return {"kind": kind, "as_of": instant(view.newest_end).isoformat() if view.newest_end else None,
            "windows": rows}


def _house(request: Request, principal: Principal) -> str:
    """The caller's house, from the token, if the registry knows it (403 otherwise)."""
    if not principal.house_id or principal.house_id not in request.app.state.ctx.registry.by_house:
        raise HTTPException(403, detail="token: no registered house for this resident")
    return principal.house_id


def refusal_status(error: OfferRefused) -> int:
    """The HTTP status of an offer refusal: 404 not found, 409 a state conflict, 422 a bad field."""
    return next(status for kind, status in REFUSAL_STATUS if isinstance(error, kind))


def _range(start: date, end: date) -> tuple[datetime, datetime]:
    if end < start:
        raise HTTPException(422, detail="end: must be on or after start")
    if (end - start).days > MAX_RANGE_DAYS:
        raise HTTPException(422, detail=f"end: range is limited to {MAX_RANGE_DAYS} days")
    try:
        return datetime.combine(start, time(0), UTC), datetime.combine(end + timedelta(days=1), time(0), UTC)
    except OverflowError:
        raise HTTPException(422, detail="end: must be a date before 9999-12-31") from None


def create_app(settings: MarketSettings, *, context: MarketContext | None = None, producer=None) -> FastAPI:
    """The market's FastAPI app; the lifespan builds the context and producer unless given (tests)."""

    fleet = FleetView(keep_hours=settings.market_fleet_view_hours)

    async def follow_fleet(_app: FastAPI) -> None:
        await fleet_feed.follow(settings, fleet)

    app = create_service_app(settings, title="EnergyChain GSA market", build_context=build_context, context=context,
                             producer_client_id="gsa-market-api", producer=producer, background=(follow_fleet,))
    app.state.fleet = fleet

    @app.exception_handler(OfferRefused)
    async def refused(request: Request, error: OfferRefused) -> Response:
        detail = f"{error.field}: {error.message}" if error.field else error.message
        return problem_response(refusal_status(error), detail, field=error.field, rule=error.rule,
                                instance=request.url.path)

    async def _publish(request: Request) -> None:
        try:
            await relay(request.app.state.ctx.engine, request.app.state.producer, schema=settings.market_db_schema)
        except Exception:  # the worker's relay publishes it later: the outbox row is committed
            log.exception("publishing after commit failed; left in the outbox")

    def ctx(request: Request) -> MarketContext:
        return request.app.state.ctx

    # ------------------------------------------------------------------ resident
    @app.post("/resident/offers", status_code=201, tags=["resident"])
    async def offer_reserve(body: OfferBody, request: Request, principal: Resident) -> dict[str, Any]:
        """Offer part of the battery reserve for a delivery day at a minimum price."""
        view = await offer_cases.place_offer(
            ctx(request),
            house_id=_house(request, principal),
            request=OfferRequest(body.reserve_percent, body.delivery_day, body.min_price_usd_per_kwh),
        )
        await _publish(request)
        return view

    @app.post("/resident/offers/{offer_id}/cancel", tags=["resident"])
    async def cancel(offer_id: str, request: Request, principal: Resident) -> dict[str, Any]:
        """Cancel an open offer (409 once it has cleared)."""
        view = await offer_cases.cancel_offer(ctx(request), house_id=_house(request, principal), offer_id=offer_id)
        await _publish(request)
        return view

    @app.get("/resident/offers", tags=["resident"])
    async def my_offers(request: Request, principal: Resident) -> dict[str, Any]:
        """The resident's own offers, newest delivery day first, with outcomes and settlements."""
        return {"offers": await views.resident_offers(ctx(request), _house(request, principal))}

    @app.get("/resident/market/terms", tags=["resident"])
    async def terms(request: Request, principal: Resident) -> dict[str, Any]:
        """What the resident may offer now: percentages, reserve, the price floor and ceiling, the earliest day."""
        return await views.resident_terms(ctx(request), _house(request, principal))

    # -------------------------------------------------------------- municipality
    @app.get("/municipality/fleet/windows", tags=["municipality"])
    async def my_fleet_windows(
        principal: Municipal, kind: WindowKind = "hour",
        hours: Annotated[int, Query(ge=1, le=MAX_FLEET_HOURS, description="how far back from the newest window")] = 48,
    ) -> dict[str, Any]:
        """The municipality's own totals from the fleet stream (no other town's, no single house's)."""
        return _fleet_windows(fleet, kind, hours, principal.municipality_id or "")

    # ----------------------------------------------------------------------- GSA
    @app.get("/gsa/fleet/windows", tags=["gsa"])
    async def fleet_windows(
        _principal: Gsa, kind: WindowKind = "hour",
        hours: Annotated[int, Query(ge=1, le=MAX_FLEET_HOURS, description="how far back from the newest window")] = 48,
    ) -> dict[str, Any]:
        """Live totals from the fleet stream: each municipality's and the whole fleet's hour or local-day windows."""
        return _fleet_windows(fleet, kind, hours, None)

    @app.get("/gsa/fleet/alerts", tags=["gsa"])
    async def fleet_alerts(_principal: Gsa) -> dict[str, Any]:
        """The meters' open data-quality alerts: silent meters, missing hours, repeated imbalance."""
        return {"alerts": [
            {"alert_id": a.alert_id, "kind": a.kind, "house_id": a.house_id, "municipality_id": a.municipality_id,
             "since": instant(a.since).isoformat(), "detail": a.detail}
            for a in fleet.open_alerts()
        ]}

    @app.get("/gsa/offers", tags=["gsa"])
    async def offers(
        request: Request, _principal: Gsa, status: str | None = "open", delivery_day: date | None = None
    ) -> dict[str, Any]:
        """Offers (open ones by default; status=all for every status), optionally for one delivery day."""
        return {"offers": await views.offers_with_status(ctx(request), status=status, delivery_day=delivery_day)}

    @app.get("/gsa/bids", tags=["gsa"])
    async def bids(request: Request, _principal: Gsa, delivery_day: date | None = None) -> dict[str, Any]:
        """Aggregated bids by delivery hour, with status, accepted energy and clearing price."""
        return {"bids": await views.bids(ctx(request), delivery_day)}

    @app.get("/gsa/clearings", tags=["gsa"])
    async def clearings(request: Request, _principal: Gsa) -> dict[str, Any]:
        """Clearing results per delivery day."""
        return {"clearings": await views.clearings(ctx(request))}

    @app.get("/gsa/settlements", tags=["gsa"])
    async def settlements(request: Request, _principal: Gsa, start: date, end: date) -> dict[str, Any]:
        """Settlements whose delivery hour falls between two dates (UTC, inclusive)."""
        low, high = _range(start, end)
        return {"settlements": await views.settlements(ctx(request), low=low, high=high)}

    @app.get("/gsa/revenue", tags=["gsa"])
    async def revenue(request: Request, _principal: Gsa, start: date, end: date) -> dict[str, Any]:
        """The GSA's market fees (and proceeds, credits, energy) between two dates, per day and in total."""
        low, high = _range(start, end)
        return await views.revenue(ctx(request), low=low, high=high)

    @app.get("/gsa/prices", tags=["gsa"])
    async def prices(request: Request, _principal: Gsa, start: date, end: date) -> dict[str, Any]:
        """Published wholesale prices between two dates (UTC, inclusive)."""
        low, high = _range(start, end)
        return {"prices": await views.published_prices(ctx(request), low=low, high=high)}

    @app.get("/gsa/usage/hourly", tags=["gsa"])
    async def hourly_usage(
        request: Request,
        _principal: Gsa,
        start: date,
        end: date,
        house_id: Annotated[list[str] | None, Query()] = None,
    ) -> dict[str, Any]:
        """Per-house hourly home consumption, grid export and grid import (Wh) between two dates, as columns."""
        low, high = _range(start, end)
        houses = await views.hourly_usage(ctx(request), low=low, high=high, house_ids=house_id)
        return {"start": low.isoformat(), "end": high.isoformat(), "houses": houses}

    return app
