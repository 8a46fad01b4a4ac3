"""Use case of settlement: settle every cleared offer whose delivery hour the meter watermark has passed."""

from __future__ import annotations

from sqlalchemy import Row

from energychain_shared import events, topics
from energychain_shared.outbox import OutboxRow, enqueue

from energychain_market import SERVICE_NAME, ledger_entries, metrics
from energychain_market.adapters import readings, repository
from energychain_market.context import MarketContext
from energychain_market.domain.calendar import HOUR
from energychain_market.domain.settlement import settle


async def settle_due(ctx: MarketContext) -> int:
    """Settle every cleared offer whose delivery hour the meter watermark has passed; returns how many."""
    async with ctx.engine.begin() as connection:
        await repository.lock_clock_jobs(connection)
        watermark = await readings.meter_watermark(connection, partitions=topics.METER_READINGS.partitions)
        if watermark is None:
            return 0
        offers = await repository.cleared_offers_due_for_update(connection, hour_started_by=watermark - HOUR)
        if not offers:
            return 0
        discharged = await readings.discharged_wh(connection, [(o.house_id, o.delivery_hour) for o in offers])
        rows, outbox = [], []
        for offer in offers:
            row, settled = _settlement(ctx, offer, discharged.get((offer.house_id, offer.delivery_hour)))
            rows.append(row)
            outbox += settled
        await repository.insert_settlements(connection, rows)
        await repository.mark_settled(connection, [o.offer_id for o in offers])
        await enqueue(connection, outbox)
    metrics.SETTLEMENTS.inc(len(rows))
    return len(rows)


def _settlement(ctx: MarketContext, offer: Row, metered_discharge_wh: int | None) -> tuple[dict, list[OutboxRow]]:
    """One offer's settlement row, its TradeSettled event and its ledger entry with the transfers."""
    figures = settle(
        cleared_wh=offer.cleared_wh,
        metered_discharge_wh=metered_discharge_wh,
        price_usd_per_mwh=offer.clearing_price_usd_per_mwh,
        fee_percent=ctx.settings.market_fee_percent,
    )
    settlement_id = events.deterministic_id("TradeSettled", offer.offer_id)
    settled_at = offer.delivery_hour + HOUR
    settled = events.TradeSettled(
        event_id=settlement_id, occurred_at=settled_at, producer=SERVICE_NAME, settlement_id=settlement_id,
        offer_id=offer.offer_id, house_id=offer.house_id, municipality_id=offer.municipality_id,
        delivery_hour=offer.delivery_hour, offered_wh=figures.offered_wh, delivered_wh=figures.delivered_wh,
        clearing_price_usd_per_mwh=offer.clearing_price_usd_per_mwh, proceeds_cents=figures.proceeds_cents,
        fee_cents=figures.fee_cents, credit_cents=figures.credit_cents, refill_wh=figures.refill_wh,
        shortfall_reason=figures.shortfall_reason,
    )
    entry = ledger_entries.settlement_entry(
        ctx.signing_key, house_id=offer.house_id, settlement_id=settlement_id, occurred_at=settled_at,
        body=ledger_entries.event_body(settled), credit_cents=figures.credit_cents, fee_cents=figures.fee_cents,
    )
    row = {
        "settlement_id": settlement_id, "offer_id": offer.offer_id, "house_id": offer.house_id,
        "municipality_id": offer.municipality_id, "delivery_hour": offer.delivery_hour,
        "offered_wh": figures.offered_wh, "delivered_wh": figures.delivered_wh,
        "clearing_price_usd_per_mwh": offer.clearing_price_usd_per_mwh, "proceeds_cents": figures.proceeds_cents,
        "fee_cents": figures.fee_cents, "credit_cents": figures.credit_cents, "refill_wh": figures.refill_wh,
        "shortfall_reason": figures.shortfall_reason, "settled_at": settled_at,
    }
    return row, [ctx.row(topics.SETTLEMENTS, settled), ctx.row(topics.LEDGER_APPENDS, entry)]
