"""Use cases of a resident's offers: place one, cancel one; each in one transaction, its events in the outbox."""

from __future__ import annotations

from typing import Any

from energychain_shared import events, topics
from energychain_shared.outbox import enqueue

from energychain_market import SERVICE_NAME, ledger_entries, metrics
from energychain_market.adapters import repository
from energychain_market.context import MarketContext
from energychain_market.domain.offers import (
    OfferNotFound,
    OfferRequest,
    OfferStatus,
    ensure_cancellable,
    validate_offer,
)
from energychain_market.views import offer_view

async def place_offer(ctx: MarketContext, *, house_id: str, request: OfferRequest) -> dict[str, Any]:
    """Check the resident's offer against the rules, store it and publish ReserveOffered (after commit)."""
    terms = ctx.resident_terms(house_id, on=request.delivery_day)  # the reserve and town of the delivery day
    async with ctx.engine.begin() as connection:
        # Shared with other offers, exclusive against clock jobs: an offer never slips past its gate closure.
        await repository.lock_for_offers_of(connection, house_id)
        now = await repository.sim_time(connection)
        previous = await repository.offer_statuses(connection, house_id=house_id, delivery_day=request.delivery_day)
        accepted = validate_offer(
            request,
            terms=terms,
            now=now,
            max_price_usd_per_kwh=ctx.settings.market_max_price_usd_per_kwh,
            gate_closure_hours_before=ctx.settings.market_gate_closure_hours_before,
            has_open_offer_for_day=OfferStatus.OPEN in previous,
        )
        assert now is not None  # validate_offer refuses offers before the first tick
        offer_id = events.deterministic_id("ReserveOffered", house_id, request.delivery_day, len(previous))
        row = await repository.insert_offer(connection, {
            "offer_id": offer_id, "house_id": house_id, "municipality_id": terms.municipality_id,
            "timezone": terms.zone.key, "delivery_day": request.delivery_day,
            "reserve_percent": accepted.reserve_percent, "energy_wh": accepted.energy_wh,
            "min_price_usd_per_kwh": accepted.min_price_usd_per_kwh,
            "rate_usd_per_kwh": accepted.current_rate_usd_per_kwh, "status": OfferStatus.OPEN.value,
            "offered_at": now,
        })
        offered = events.ReserveOffered(
            event_id=offer_id,
            occurred_at=now,
            producer=SERVICE_NAME,
            offer_id=offer_id,
            house_id=house_id,
            municipality_id=terms.municipality_id,
            delivery_day=request.delivery_day,
            reserve_percent=accepted.reserve_percent,  # type: ignore[arg-type]
            energy_wh=accepted.energy_wh,
            min_price_usd_per_kwh=accepted.min_price_usd_per_kwh,
        )
        entry = ledger_entries.resident_entry(
            ctx.signing_key, kind="reserve_offered", house_id=house_id, natural_key=offer_id, occurred_at=now,
            body=ledger_entries.event_body(offered),
        )
        await enqueue(connection, [ctx.row(topics.OFFERS, offered), ctx.row(topics.LEDGER_APPENDS, entry)])
    metrics.OFFERS.labels("offered").inc()
    return offer_view(row)


async def cancel_offer(ctx: MarketContext, *, house_id: str, offer_id: str) -> dict[str, Any]:
    """Cancel one of the resident's open offers; someone else's is not found, a non-open one a conflict."""
    async with ctx.engine.begin() as connection:
        await repository.lock_shared_with_clock_jobs(connection)
        row = await repository.offer_of_house_for_update(connection, offer_id=offer_id, house_id=house_id)
        if row is None:
            raise OfferNotFound(rule="own_offer", field="offer_id", message=f"no offer {offer_id} of {house_id}")
        ensure_cancellable(OfferStatus(row.status), offer_id=offer_id)
        now = await repository.sim_time(connection)
        updated = await repository.cancel_offer(connection, offer_id=offer_id, at=now)
        cancelled = events.OfferCancelled(
            event_id=events.deterministic_id("OfferCancelled", offer_id),
            occurred_at=now,
            producer=SERVICE_NAME,
            offer_id=offer_id,
            house_id=house_id,
        )
        entry = ledger_entries.resident_entry(
            ctx.signing_key, kind="offer_cancelled", house_id=house_id, natural_key=offer_id, occurred_at=now,
            body={"offer_id": offer_id, "house_id": house_id, "delivery_day": row.delivery_day.isoformat()},
        )
        await enqueue(connection, [ctx.row(topics.OFFERS, cancelled), ctx.row(topics.LEDGER_APPENDS, entry)])
    metrics.OFFERS.labels("cancelled").inc()
    return offer_view(updated)
